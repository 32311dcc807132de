package kernel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gopeft/gopeft/internal/atomicfile"
)

// Kernelspec names.
const (
	SpecName    = "gopeft"
	SpecNameGPU = "gopeft-gpu"
)

// Spec is a Jupyter kernel.json.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// InstallOptions say where and what to install.
type InstallOptions struct {
	Dir       string // the kernels directory (…/share/jupyter/kernels)
	Exe       string // absolute path of the gopeft binary
	Root      string // GoPEFT source tree, recorded as GOPEFT_ROOT
	GPUPlugin string // PJRT plugin .so; the gopeft-gpu spec is written only when set
}

// KernelsDir returns the kernels directory for a scope: "user", "sys-prefix",
// "system", or a --prefix directory (prefix non-empty).
func KernelsDir(scope, prefix string) (string, error) {
	switch {
	case prefix != "":
		return filepath.Join(prefix, "share", "jupyter", "kernels"), nil
	case scope == "user":
		if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
			return filepath.Join(d, "kernels"), nil
		}
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for --user: %w; use --prefix", err)
		}
		return filepath.Join(home, ".local", "share", "jupyter", "kernels"), nil
	case scope == "sys-prefix":
		py := "/usr/bin/python3"
		if p := os.Getenv("PYTHON"); p != "" {
			py = p
		}
		out, err := exec.Command(py, "-c", "import sys; print(sys.prefix)").Output()
		if err != nil {
			return "", fmt.Errorf("--sys-prefix needs the Python that runs Jupyter (%s, or set PYTHON): %w", py, err)
		}
		return filepath.Join(strings.TrimSpace(string(out)), "share", "jupyter", "kernels"), nil
	case scope == "system":
		return "/usr/local/share/jupyter/kernels", nil
	}
	return "", fmt.Errorf("unknown install scope %q", scope)
}

// Specs returns the kernelspecs to write: gopeft always, gopeft-gpu when a
// plugin is given.
func Specs(o InstallOptions) map[string]Spec {
	argv := []string{o.Exe, "kernel", "run", "--connection-file", "{connection_file}"}
	base := map[string]string{"GOPEFT_ROOT": o.Root}
	if p := toolPath(); p != "" {
		base["GOPEFT_TOOL_PATH"] = p
	}
	specs := map[string]Spec{
		// GOMLX_BACKEND is not set here: a spec's env overrides the user's,
		// and the kernel itself defaults it to "go" when unset.
		SpecName: {Argv: argv, DisplayName: "GoPEFT (Go)", Language: "go", InterruptMode: "message", Env: base,
			Metadata: map[string]any{"backend": "go"}},
	}
	if o.GPUPlugin != "" {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		env["GOPEFT_PJRT_PLUGIN"] = o.GPUPlugin
		env["GOMLX_BACKEND"] = "xla:" + o.GPUPlugin
		env["GOPJRT_CUDA_CHECKS"] = "0"
		// A pip jax plugin lives in <site-packages>/jax_plugins/<name>/x.so,
		// with the CUDA libraries in <site-packages>/nvidia.
		sp := filepath.Dir(filepath.Dir(filepath.Dir(o.GPUPlugin)))
		if st, err := os.Stat(filepath.Join(sp, "nvidia")); err == nil && st.IsDir() {
			env["XLA_FLAGS"] = "--xla_gpu_cuda_data_dir=" + filepath.Join(sp, "nvidia")
		}
		specs[SpecNameGPU] = Spec{Argv: argv, DisplayName: "GoPEFT (GPU)", Language: "go", InterruptMode: "message", Env: env,
			Metadata: map[string]any{"backend": "xla", "plugin": o.GPUPlugin}}
	}
	return specs
}

// toolPath lists the directories of go, gonb, goimports and gopls as found at
// install time, for Jupyter servers started with a narrower PATH.
func toolPath() string {
	var dirs []string
	for _, t := range []string{"go", "gonb", "goimports", "gopls"} {
		if p, err := FindTool(t); err == nil {
			d := filepath.Dir(p)
			if !strings.Contains(":"+strings.Join(dirs, ":")+":", ":"+d+":") {
				dirs = append(dirs, d)
			}
		}
	}
	return strings.Join(dirs, string(os.PathListSeparator))
}

// Install writes the kernelspecs (kernel.json and logos, each atomically) and
// removes a stale gopeft-gpu spec when no plugin is given. It returns the
// directories written.
func Install(o InstallOptions) ([]string, error) {
	if !filepath.IsAbs(o.Exe) {
		return nil, fmt.Errorf("kernel executable %q must be an absolute path", o.Exe)
	}
	if !isRoot(o.Root) {
		return nil, fmt.Errorf("%s is not the GoPEFT source tree (no go.mod for %s); pass --root", o.Root, ModulePath)
	}
	var written []string
	specs := Specs(o)
	for name, spec := range specs {
		dir := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return written, fmt.Errorf("creating %s: %w (use --user or --prefix for a writable place)", dir, err)
		}
		data, _ := json.MarshalIndent(spec, "", "  ")
		if err := atomicfile.WriteFile(filepath.Join(dir, "kernel.json"), append(data, '\n'), 0o644); err != nil {
			return written, err
		}
		for _, size := range []int{32, 64} {
			if err := atomicfile.WriteFile(filepath.Join(dir, fmt.Sprintf("logo-%dx%d.png", size, size)), Logo(size), 0o644); err != nil {
				return written, err
			}
		}
		written = append(written, dir)
	}
	if _, ok := specs[SpecNameGPU]; !ok {
		_ = os.RemoveAll(filepath.Join(o.Dir, SpecNameGPU))
	}
	return written, nil
}

// Uninstall removes the gopeft kernelspecs from dir; it returns what it removed.
func Uninstall(dir string) ([]string, error) {
	var removed []string
	for _, name := range []string{SpecName, SpecNameGPU} {
		d := filepath.Join(dir, name)
		if _, err := os.Stat(filepath.Join(d, "kernel.json")); err != nil {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			return removed, fmt.Errorf("removing %s: %w", d, err)
		}
		removed = append(removed, d)
	}
	return removed, nil
}

// Logo draws the kernel logo at size x size: a Go-blue rounded tile with three
// white layer bars and a small orange adapter beside the middle one.
func Logo(size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	blue := color.NRGBA{0x00, 0xAD, 0xD8, 0xFF}
	white := color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
	orange := color.NRGBA{0xFF, 0x8C, 0x1A, 0xFF}
	s := float64(size)
	r := s * 0.18
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			// Distance outside the inner rectangle gives the rounded corners.
			dx := maxf(0, maxf(r-fx, fx-(s-r)))
			dy := maxf(0, maxf(r-fy, fy-(s-r)))
			if dx*dx+dy*dy <= r*r {
				img.SetNRGBA(x, y, blue)
			}
		}
	}
	fill := func(x0, y0, x1, y1 float64, c color.NRGBA) {
		for y := int(y0 * s); y < int(y1*s); y++ {
			for x := int(x0 * s); x < int(x1*s); x++ {
				img.SetNRGBA(x, y, c)
			}
		}
	}
	fill(0.18, 0.20, 0.82, 0.32, white)
	fill(0.18, 0.44, 0.60, 0.56, white)
	fill(0.66, 0.41, 0.82, 0.59, orange)
	fill(0.18, 0.68, 0.82, 0.80, white)
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}
