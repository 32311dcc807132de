package kernel

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Finding is one setup check for `gopeft doctor`.
type Finding struct {
	Name     string
	OK       bool
	Optional bool   // a failed optional check degrades features, not the kernel
	Detail   string // what was found, or the problem and its fix
}

// Doctor checks what the kernel needs: the Go tools GoNB runs, and an
// installed kernelspec that points at an existing binary and source tree.
// It runs no cells and needs no network.
func Doctor() []Finding {
	var out []Finding
	tool := func(name, fix string, optional bool) {
		p, err := FindTool(name)
		f := Finding{Name: name, OK: err == nil, Optional: optional, Detail: p}
		if err != nil {
			f.Detail = fix
		}
		out = append(out, f)
	}
	tool("go", "Go toolchain not found: install Go 1.26 (/usr/local/go/bin on PATH)", false)
	tool("gonb", "GoNB not found: go build -o /usr/local/bin/gonb github.com/janpfeifer/gonb (from the GoPEFT checkout)", false)
	tool("goimports", "goimports not found (GoNB needs it for every cell): GOTOOLCHAIN=local go install golang.org/x/tools/cmd/goimports@v0.36.0", false)
	tool("gopls", "gopls not found (completion and inspect stay empty): GOTOOLCHAIN=local go install golang.org/x/tools/gopls@v0.23.0", true)
	if p, err := FindTool("go"); err == nil {
		if v, err := exec.Command(p, "env", "GOVERSION").Output(); err == nil {
			out[0].Detail += " (" + strings.TrimSpace(string(v)) + ")"
		}
	}

	found := false
	for _, dir := range jupyterDataDirs() {
		for _, name := range []string{SpecName, SpecNameGPU} {
			path := filepath.Join(dir, "kernels", name, "kernel.json")
			data, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			found = true
			out = append(out, checkSpec(name, path, data))
		}
	}
	if !found {
		out = append(out, Finding{Name: "kernelspec", Detail: "no gopeft kernelspec in " +
			strings.Join(jupyterDataDirs(), ", ") + ": run gopeft kernel install"})
	}
	return out
}

func checkSpec(name, path string, data []byte) Finding {
	f := Finding{Name: "kernelspec " + name, Optional: name == SpecNameGPU}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		f.Detail = fmt.Sprintf("%s is not valid JSON (%v): run gopeft kernel install", path, err)
		return f
	}
	if len(spec.Argv) == 0 {
		f.Detail = path + " has no argv: run gopeft kernel install"
		return f
	}
	if _, err := os.Stat(spec.Argv[0]); err != nil {
		f.Detail = fmt.Sprintf("%s runs %s, which is missing: rebuild gopeft and run gopeft kernel install", path, spec.Argv[0])
		return f
	}
	if root := spec.Env["GOPEFT_ROOT"]; !isRoot(root) {
		f.Detail = fmt.Sprintf("%s records GOPEFT_ROOT=%q, which is not the GoPEFT checkout: run gopeft kernel install from it", path, root)
		return f
	}
	if p := spec.Env["GOPEFT_PJRT_PLUGIN"]; p != "" {
		if _, err := os.Stat(p); err != nil {
			f.Detail = fmt.Sprintf("%s uses PJRT plugin %s, which is missing: install.sh --gpu, or gopeft kernel install --gpu-plugin PATH", path, p)
			return f
		}
	}
	f.OK = true
	f.Detail = path
	return f
}

// jupyterDataDirs lists where Jupyter looks for kernelspecs, most specific first.
func jupyterDataDirs() []string {
	var dirs []string
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		dirs = append(dirs, d)
	} else if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "share", "jupyter"))
	}
	dirs = append(dirs, filepath.SplitList(os.Getenv("JUPYTER_PATH"))...)
	dirs = append(dirs, "/usr/local/share/jupyter", "/usr/share/jupyter")
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
