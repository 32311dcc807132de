package kernel

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/gopeft/gopeft/peft/backend"
	"github.com/gopeft/gopeft/peft/backend/blas"
)

// runMagics handles the magics the kernel owns (GoNB never sees them): the
// lines are blanked so GoNB's line numbers still match the cell.
func runMagics(code string, describe func() string) (string, string) {
	lines := strings.Split(code, "\n")
	var out []string
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "%backend" {
			out = append(out, describe())
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n"), strings.Join(out, "\n")
}

// EnvBackend describes the backend from GOMLX_BACKEND alone.
func EnvBackend() string {
	if b := os.Getenv("GOMLX_BACKEND"); b != "" {
		return "backend: " + b + " (GOMLX_BACKEND)"
	}
	if cpuBackend() == blas.Name {
		return "backend: blas (GoPEFT's CPU backend on OpenBLAS, default)"
	}
	return "backend: go (pure Go, default: " + blas.InstallHelp + " for the faster blas backend)"
}

// cpuBackend is the CPU backend cells get unless GOMLX_BACKEND says otherwise
// (peft/backend decides); a variable so tests can fake either answer.
var cpuBackend = backend.CPUName

// KernelInfo is the kernel_info_reply content.
func KernelInfo(version string) map[string]any {
	return map[string]any{
		"status":                 "ok",
		"protocol_version":       ProtocolVersion,
		"implementation":         "gopeft",
		"implementation_version": version,
		"language_info": map[string]any{
			"name":               "go",
			"version":            strings.TrimPrefix(runtime.Version(), "go"),
			"mimetype":           "text/x-go",
			"file_extension":     ".go",
			"pygments_lexer":     "go",
			"codemirror_mode":    "go",
			"nbconvert_exporter": "script",
		},
		"banner": fmt.Sprintf("GoPEFT %s: Go cells for parameter-efficient fine-tuning (GoNB engine, %s).\n"+
			"Import github.com/gopeft/gopeft/peft directly; %%backend shows the GoMLX backend.", version, runtime.Version()),
		"help_links": []map[string]string{
			{"text": "GoPEFT README", "url": "https://github.com/gopeft/gopeft#readme"},
			{"text": "GoMLX documentation", "url": "https://pkg.go.dev/github.com/gomlx/gomlx"},
			{"text": "GoNB documentation", "url": "https://github.com/janpfeifer/gonb#readme"},
			{"text": "Go documentation", "url": "https://go.dev/doc/"},
		},
	}
}
