package backend

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/gopeft/gopeft/peft/backend/blas"
)

// fakeSystem is a map-backed filesystem and environment.
type fakeSystem struct {
	env   map[string]string
	files map[string]string // path -> content
	gpu   bool
	sites []string
	blas  string // where OpenBLAS was found; "" means it is missing
}

func (f fakeSystem) system() system {
	return system{
		getenv: func(k string) (string, bool) { v, ok := f.env[k]; return v, ok },
		isFile: func(p string) bool { _, ok := f.files[p]; return ok },
		isDir: func(d string) bool {
			for p := range f.files {
				if strings.HasPrefix(p, d+"/") {
					return true
				}
			}
			return false
		},
		readFile: func(p string) ([]byte, error) {
			if c, ok := f.files[p]; ok {
				return []byte(c), nil
			}
			return nil, fs.ErrNotExist
		},
		glob: func(pat string) ([]string, error) {
			var out []string
			for p := range f.files {
				if ok, _ := filepath.Match(pat, p); ok {
					out = append(out, p)
				}
			}
			return out, nil
		},
		hasGPU:      func() bool { return f.gpu },
		sitePackage: func() []string { return f.sites },
		configDir:   func() string { return "/home/u/.config" },
		openBLAS: func() (bool, string) {
			if f.blas == "" {
				return false, "OpenBLAS not found (libopenblas.so.0: cannot open shared object file)"
			}
			return true, "OpenBLAS found at " + f.blas
		},
	}
}

const openBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"

const (
	site     = "/venv/lib/python3.12/site-packages"
	pip13    = site + "/jax_plugins/xla_cuda13/xla_cuda_plugin.so"
	pip12    = site + "/jax_plugins/xla_cuda12/xla_cuda_plugin.so"
	nvLib    = site + "/nvidia/cublas/lib/libcublas.so.13"
	recorded = "/home/u/.config/gopeft/pjrt_plugin"
	custom   = "/opt/pjrt/pjrt_c_api_cuda_plugin.so"
)

func TestSelect(t *testing.T) {
	tests := []struct {
		name       string
		sys        fakeSystem
		opts       []Option
		wantName   string
		wantConfig string
		wantPlugin string
		wantReason string // substring
		wantErr    string // substring; "" means no error
		wantEnv    map[string]string
	}{
		{
			name:       "default is pure Go",
			sys:        fakeSystem{},
			wantName:   "go",
			wantConfig: "go",
			wantReason: "No NVIDIA GPU found",
		},
		{
			name:       "default without OpenBLAS says what to install",
			sys:        fakeSystem{},
			wantName:   "go",
			wantReason: "apt-get install libopenblas0",
		},
		{
			name:       "default CPU backend is blas when OpenBLAS loads",
			sys:        fakeSystem{blas: openBLAS},
			wantName:   "blas",
			wantConfig: "blas",
			wantReason: "OpenBLAS found at " + openBLAS,
		},
		{
			name:       "GOPEFT_BACKEND=go beats OpenBLAS",
			sys:        fakeSystem{env: map[string]string{"GOPEFT_BACKEND": "go"}, blas: openBLAS},
			wantName:   "go",
			wantReason: "GOPEFT_BACKEND=go",
		},
		{
			name:       "GOMLX_BACKEND=go beats OpenBLAS",
			sys:        fakeSystem{env: map[string]string{"GOMLX_BACKEND": "go"}, blas: openBLAS},
			wantName:   "go",
			wantReason: "GOMLX_BACKEND=go",
		},
		{
			name:       "GOMLX_BACKEND=blas",
			sys:        fakeSystem{env: map[string]string{"GOMLX_BACKEND": "blas"}},
			wantName:   "blas",
			wantReason: "GOMLX_BACKEND=blas",
		},
		{
			name:       "GOPEFT_BACKEND=blas",
			sys:        fakeSystem{env: map[string]string{"GOPEFT_BACKEND": "blas"}, blas: openBLAS},
			wantName:   "blas",
			wantReason: "OpenBLAS found",
		},
		{
			name:    "GOPEFT_BACKEND=blas without OpenBLAS is an error with the fix",
			sys:     fakeSystem{env: map[string]string{"GOPEFT_BACKEND": "blas"}},
			wantErr: "apt-get install libopenblas0",
		},
		{
			name:       "GOPEFT_BACKEND=cpu takes the best CPU backend",
			sys:        fakeSystem{env: map[string]string{"GOPEFT_BACKEND": "cpu"}, blas: openBLAS, gpu: true, files: map[string]string{pip13: ""}, sites: []string{site}},
			wantName:   "blas",
			wantReason: "GOPEFT_BACKEND=cpu",
		},
		{
			name:       "GPU without a plugin uses blas and says what to run",
			sys:        fakeSystem{gpu: true, blas: openBLAS},
			wantName:   "blas",
			wantReason: "./install.sh --gpu",
		},
		{
			name: "GOMLX_BACKEND wins over everything",
			sys: fakeSystem{
				env:   map[string]string{"GOMLX_BACKEND": "xla:cpu", "GOPEFT_PJRT_PLUGIN": pip13},
				files: map[string]string{pip13: "", recorded: pip13},
				gpu:   true, sites: []string{site},
			},
			wantName:   "xla:cpu",
			wantConfig: "xla:cpu",
			wantReason: "GOMLX_BACKEND=xla:cpu",
		},
		{
			name:       "GOMLX_BACKEND with a plugin path names the plugin",
			sys:        fakeSystem{env: map[string]string{"GOMLX_BACKEND": "xla:" + custom}},
			wantName:   "xla:cuda",
			wantConfig: "xla:" + custom,
			wantPlugin: custom,
		},
		{
			name: "GOPEFT_PJRT_PLUGIN used even without a GPU",
			sys: fakeSystem{
				env:   map[string]string{"GOPEFT_PJRT_PLUGIN": pip13},
				files: map[string]string{pip13: "", nvLib: ""},
			},
			wantName:   "xla:cuda",
			wantConfig: "xla:" + pip13,
			wantPlugin: pip13,
			wantReason: "GOPEFT_PJRT_PLUGIN",
			wantEnv: map[string]string{
				"GOPJRT_CUDA_CHECKS": "0",
				"XLA_FLAGS":          "--xla_gpu_cuda_data_dir=" + site + "/nvidia",
			},
		},
		{
			name:    "GOPEFT_PJRT_PLUGIN missing file is an error",
			sys:     fakeSystem{env: map[string]string{"GOPEFT_PJRT_PLUGIN": "/tmp/fake.so"}},
			wantErr: "GOPEFT_PJRT_PLUGIN=/tmp/fake.so: no such file",
		},
		{
			name: "CUDA env not overridden when already set",
			sys: fakeSystem{
				env:   map[string]string{"GOPEFT_PJRT_PLUGIN": pip13, "GOPJRT_CUDA_CHECKS": "1", "XLA_FLAGS": "--xla_gpu_cuda_data_dir=/x"},
				files: map[string]string{pip13: "", nvLib: ""},
			},
			wantName:   "xla:cuda",
			wantPlugin: pip13,
			wantEnv:    map[string]string{},
		},
		{
			name: "recorded plugin with GPU",
			sys: fakeSystem{
				files: map[string]string{recorded: "# written by install.sh --gpu\n" + custom + "\n", custom: ""},
				gpu:   true,
			},
			wantName:   "xla:cuda",
			wantPlugin: custom,
			wantReason: "recorded",
			wantEnv:    map[string]string{"GOPJRT_CUDA_CHECKS": "0"},
		},
		{
			name: "recorded CUDA plugin without GPU falls back to Go",
			sys: fakeSystem{
				files: map[string]string{recorded: custom, custom: ""},
			},
			wantName:   "go",
			wantReason: "needs a GPU",
		},
		{
			name: "recorded plugin that is gone falls back, saying so",
			sys: fakeSystem{
				files: map[string]string{recorded: custom},
				gpu:   true,
			},
			wantName:   "go",
			wantReason: "is gone",
		},
		{
			name: "system-wide recorded plugin",
			sys: fakeSystem{
				files: map[string]string{"/etc/gopeft/pjrt_plugin": custom, custom: ""},
				gpu:   true,
			},
			wantName:   "xla:cuda",
			wantPlugin: custom,
			wantReason: "/etc/gopeft/pjrt_plugin",
		},
		{
			name: "pip plugin with GPU, newest CUDA first",
			sys: fakeSystem{
				files: map[string]string{pip12: "", pip13: "", nvLib: ""},
				gpu:   true, sites: []string{site},
			},
			wantName:   "xla:cuda",
			wantPlugin: pip13,
			wantReason: "pip-installed jax CUDA plugin",
			wantEnv: map[string]string{
				"GOPJRT_CUDA_CHECKS": "0",
				"XLA_FLAGS":          "--xla_gpu_cuda_data_dir=" + site + "/nvidia",
			},
		},
		{
			name: "pip plugin without GPU is ignored",
			sys: fakeSystem{
				files: map[string]string{pip13: "", nvLib: ""},
				sites: []string{site},
			},
			wantName: "go",
		},
		{
			name:       "GPU without any plugin uses Go and says what to run",
			sys:        fakeSystem{gpu: true, sites: []string{site}},
			wantName:   "go",
			wantReason: "./install.sh --gpu",
		},
		{
			name:    "GPU required but missing",
			sys:     fakeSystem{},
			opts:    []Option{RequireGPU()},
			wantErr: "no NVIDIA GPU found",
		},
		{
			name:    "GOPEFT_BACKEND=gpu but missing names the fixes",
			sys:     fakeSystem{env: map[string]string{"GOPEFT_BACKEND": "gpu"}},
			wantErr: `pip install -U "jax[cuda13]"`,
		},
		{
			name:    "GPU required, GPU present, no plugin",
			sys:     fakeSystem{gpu: true},
			opts:    []Option{RequireGPU()},
			wantErr: "no PJRT CUDA plugin was found",
		},
		{
			name: "GPU required and available",
			sys: fakeSystem{
				files: map[string]string{pip13: ""},
				gpu:   true, sites: []string{site},
			},
			opts:       []Option{RequireGPU()},
			wantName:   "xla:cuda",
			wantPlugin: pip13,
		},
		{
			name:    "GPU required contradicts GOMLX_BACKEND=go",
			sys:     fakeSystem{env: map[string]string{"GOMLX_BACKEND": "go", "GOPEFT_BACKEND": "gpu"}},
			wantErr: "GOMLX_BACKEND=go selects go",
		},
		{
			name: "GOPEFT_BACKEND=go skips plugins",
			sys: fakeSystem{
				env:   map[string]string{"GOPEFT_BACKEND": "go"},
				files: map[string]string{pip13: ""},
				gpu:   true, sites: []string{site},
			},
			wantName:   "go",
			wantReason: "GOPEFT_BACKEND=go",
		},
		{
			name:    "unknown GOPEFT_BACKEND",
			sys:     fakeSystem{env: map[string]string{"GOPEFT_BACKEND": "tpu"}},
			wantErr: `GOPEFT_BACKEND="tpu" is not one of`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := selectWith(tc.sys.system(), tc.opts...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if c.Name != tc.wantName {
				t.Errorf("Name = %q, want %q", c.Name, tc.wantName)
			}
			if tc.wantConfig != "" && c.Config != tc.wantConfig {
				t.Errorf("Config = %q, want %q", c.Config, tc.wantConfig)
			}
			if c.Plugin != tc.wantPlugin {
				t.Errorf("Plugin = %q, want %q", c.Plugin, tc.wantPlugin)
			}
			if tc.wantReason != "" && !strings.Contains(c.Reason, tc.wantReason) {
				t.Errorf("Reason = %q, want it to contain %q", c.Reason, tc.wantReason)
			}
			if c.Reason == "" {
				t.Errorf("Reason is empty")
			}
			if tc.wantEnv != nil {
				if len(c.Env) != len(tc.wantEnv) {
					t.Errorf("Env = %v, want %v", c.Env, tc.wantEnv)
				}
				for k, v := range tc.wantEnv {
					if c.Env[k] != v {
						t.Errorf("Env[%s] = %q, want %q", k, c.Env[k], v)
					}
				}
			}
		})
	}
}

func TestRequireGPUErrorIsErrNoGPU(t *testing.T) {
	_, err := selectWith(fakeSystem{}.system(), RequireGPU())
	if !errors.Is(err, ErrNoGPU) {
		t.Fatalf("error %v does not wrap ErrNoGPU", err)
	}
	for _, want := range []string{"./install.sh --gpu", "GOPEFT_PJRT_PLUGIN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestDisplay(t *testing.T) {
	c := pluginChoice(pip13, fakeSystem{}.system())
	if got, want := c.Display(), "xla:cuda ("+pip13+")"; got != want {
		t.Errorf("Display = %q, want %q", got, want)
	}
	if got := goChoice("x").Display(); got != "go" {
		t.Errorf("Display = %q, want go", got)
	}
	if got := pluginShortName("/x/pjrt_c_api_cpu_plugin.so"); got != "cpu" {
		t.Errorf("pluginShortName = %q, want cpu", got)
	}
}

// TestNewPureGo creates the real default backend: it must be the pure-Go one
// and must not try to download anything.
func TestNewPureGo(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "go")
	b, c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if c.Name != "go" || !strings.Contains(b.Name(), "(go)") {
		t.Errorf("choice %q, backend %q; want go", c.Name, b.Name())
	}
	if backends.DefaultConfig != "go" {
		t.Errorf("backends.DefaultConfig = %q, want go", backends.DefaultConfig)
	}
}

// TestNewBLAS creates GoPEFT's CPU backend where OpenBLAS loads, without
// the pure-Go backend's scheduler option.
func TestNewBLAS(t *testing.T) {
	if ok, info := blas.LibraryStatus(); !ok {
		t.Skip(info)
	}
	t.Setenv("GOMLX_BACKEND", "blas")
	b, c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if c.Name != "blas" || b.Name() != "blas" || !c.IsCPU() || c.IsGPU() {
		t.Errorf("choice %q, backend %q; want blas", c.Name, b.Name())
	}
	if got := deadlockFree("blas"); got != "blas" {
		t.Errorf("deadlockFree(blas) = %q", got)
	}
}

// TestUnknownBackendIsAnError checks GoMLX's panic becomes an error with a fix.
func TestUnknownBackendIsAnError(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "nosuchbackend")
	_, _, err := New()
	if err == nil || !strings.Contains(err.Error(), "GOMLX_BACKEND") {
		t.Fatalf("error = %v, want one saying to fix GOMLX_BACKEND", err)
	}
}

// TestXLAByNameStaysOffline: "xla:cuda" by name would auto-install (download)
// plugins in stock GoMLX; here it must fail fast and locally instead.
func TestXLAByNameStaysOffline(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "xla:nosuchplugin")
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	_, _, err := New()
	if err == nil {
		t.Fatal("expected an error for a missing plugin")
	}
	if strings.Contains(err.Error(), "auto-install") {
		t.Fatalf("tried to auto-install: %v", err)
	}
}

func TestDeadlockFreeConfig(t *testing.T) {
	for in, want := range map[string]string{
		"go":                  "go:ops_sequential",
		"go:parallelism=2":    "go:parallelism=2,ops_sequential",
		"go:ops_parallel":     "go:ops_parallel",
		"xla:/p/plugin.so":    "xla:/p/plugin.so",
		"go:dotgeneral_small": "go:dotgeneral_small,ops_sequential",
	} {
		if got := deadlockFree(in); got != want {
			t.Errorf("deadlockFree(%q) = %q, want %q", in, got, want)
		}
	}
}

// GoPEFT starts XLA with client options only when asked, and only for an
// xla config; every other config goes to GoMLX's own constructor.
func TestXLAClientOptionsOnlyWhenAsked(t *testing.T) {
	t.Setenv(EnvXLAPreallocate, "")
	for _, config := range []string{"xla:/no/such/plugin.so", "go", "blas"} {
		if _, ok, _ := newXLAWithOptions(config); ok {
			t.Errorf("%s without %s: client options used", config, EnvXLAPreallocate)
		}
	}
	t.Setenv(EnvXLAPreallocate, "false")
	if _, ok, _ := newXLAWithOptions("go"); ok {
		t.Error("go config took XLA client options")
	}
	if _, ok, err := newXLAWithOptions("xla:/no/such/plugin.so"); !ok || err == nil {
		t.Errorf("xla config with %s=false: ok %v, err %v; want the options path and a missing-plugin error", EnvXLAPreallocate, ok, err)
	}
}
