package backend

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gopeft/gopeft/peft/backend/blas"
)

func realSystem() system {
	return system{
		getenv: os.LookupEnv,
		isFile: func(p string) bool {
			fi, err := os.Stat(p)
			return err == nil && fi.Mode().IsRegular()
		},
		isDir: func(p string) bool {
			fi, err := os.Stat(p)
			return err == nil && fi.IsDir()
		},
		readFile:    os.ReadFile,
		glob:        filepath.Glob,
		hasGPU:      HasNVIDIAGPU,
		sitePackage: pythonSitePackages,
		openBLAS:    blas.LibraryStatus,
		configDir: func() string {
			if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
				return d
			}
			if h, err := os.UserHomeDir(); err == nil {
				return filepath.Join(h, ".config")
			}
			return ""
		},
	}
}

// HasNVIDIAGPU reports whether an NVIDIA GPU is visible: /dev/nvidia0 exists,
// or nvidia-smi -L lists a GPU. Cached for the life of the process.
var HasNVIDIAGPU = sync.OnceValue(func() bool {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		return true
	}
	smi, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return false
	}
	out, err := runQuick(smi, "-L")
	return err == nil && strings.Contains(out, "GPU ")
})

// FindPipPlugins lists pip-installed jax CUDA PJRT plugins in the
// site-packages of the python interpreters it can find, newest CUDA first.
// It does not check for a GPU.
func FindPipPlugins() []string { return findPipPlugins(realSystem()) }

func findPipPlugins(s system) []string {
	seen := map[string]bool{}
	var found []string
	for _, sp := range s.sitePackage() {
		matches, _ := s.glob(filepath.Join(sp, "jax_plugins", "xla_cuda*", "xla_cuda_plugin.so"))
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				found = append(found, m)
			}
		}
	}
	// "xla_cuda13" before "xla_cuda12": prefer the newest CUDA, keep the
	// interpreter order otherwise.
	slices.SortStableFunc(found, func(a, b string) int {
		return strings.Compare(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
	})
	return found
}

// pythonSitePackages returns candidate site-packages dirs: those reported by
// the python3 interpreters on PATH, in $VIRTUAL_ENV and $CONDA_PREFIX and
// /usr/bin/python3 (each asked once, with a short timeout), plus common
// locations by glob. Never fails; an unusable python is skipped.
var pythonSitePackages = sync.OnceValue(func() []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		if d == "" || seen[d] {
			return
		}
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	var pythons []string
	for _, p := range []string{os.Getenv("VIRTUAL_ENV"), os.Getenv("CONDA_PREFIX")} {
		if p != "" {
			pythons = append(pythons, filepath.Join(p, "bin", "python3"))
		}
	}
	if p, err := exec.LookPath("python3"); err == nil {
		pythons = append(pythons, p)
	}
	pythons = append(pythons, "/usr/bin/python3")
	asked := map[string]bool{}
	for _, py := range pythons {
		if asked[py] {
			continue
		}
		asked[py] = true
		if _, err := os.Stat(py); err != nil {
			continue
		}
		out, err := runQuick(py, "-c", "import sys,json;print(json.dumps(sys.path))")
		if err != nil {
			continue
		}
		var paths []string
		if json.Unmarshal([]byte(strings.TrimSpace(out)), &paths) == nil {
			for _, p := range paths {
				if strings.HasSuffix(p, "-packages") {
					add(p)
				}
			}
		}
	}
	home, _ := os.UserHomeDir()
	for _, pat := range []string{
		filepath.Join(home, ".local/lib/python3*/site-packages"),
		filepath.Join(home, ".pyenv/versions/*/lib/python3*/site-packages"),
		filepath.Join(home, "miniconda3/lib/python3*/site-packages"),
		filepath.Join(home, "anaconda3/lib/python3*/site-packages"),
		"/opt/conda/lib/python3*/site-packages",
		"/usr/local/lib/python3*/dist-packages",
		"/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3/dist-packages",
	} {
		matches, _ := filepath.Glob(pat)
		for _, m := range matches {
			add(m)
		}
	}
	return dirs
})

// runQuick runs a probe command with a timeout so a hung tool cannot stall
// backend selection.
func runQuick(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}
