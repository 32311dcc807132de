// Package backend picks the GoMLX backend for every GoPEFT entry point (CLI,
// kernel, notebooks, tests) and says why it picked it.
//
// Order of precedence (first match wins):
//
//  1. GOMLX_BACKEND, used as given (GoMLX's own variable, e.g. "go",
//     "xla:cuda", "xla:/abs/path/plugin.so").
//  2. GOPEFT_PJRT_PLUGIN, the path of a PJRT plugin .so; it must exist.
//  3. The plugin recorded by `./install.sh --gpu`: the first line of
//     ${XDG_CONFIG_HOME:-~/.config}/gopeft/pjrt_plugin, else of
//     /etc/gopeft/pjrt_plugin (system-wide installs, e.g. JupyterHub).
//  4. A pip-installed jax CUDA plugin
//     (<site-packages>/jax_plugins/xla_cuda*/xla_cuda_plugin.so).
//  5. The CPU backend: GoPEFT's "blas" (peft/backend/blas, OpenBLAS
//     underneath) when libopenblas.so.0 loads, else the pure-Go backend
//     "go" (GoMLX's simplego, about 8x slower on a fine-tuning step).
//
// Plugins found on disk (3, 4) are used only when an NVIDIA GPU is present,
// so a laptop with jax installed still gets a CPU backend.
//
// GOPEFT_BACKEND=gpu (or the RequireGPU option) turns "no GPU backend" into an
// error that says what to install; GOPEFT_BACKEND=go forces the pure-Go backend
// and GOPEFT_BACKEND=blas the blas one (an error without OpenBLAS), unless
// GOMLX_BACKEND is set (GOMLX_BACKEND=go and GOMLX_BACKEND=blas work too).
//
// Never the internet: linking GoMLX's xla backend makes it the default and, for
// a plugin given by name rather than absolute path, makes it download plugins
// (backends/xla AutoInstall). This package's init turns auto-install off and
// makes "go" GoMLX's default config, so importing it is enough to keep any
// backends.New() call offline.
package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // the pure-Go fallback
	"github.com/gomlx/gomlx/backends/xla"

	"github.com/gopeft/gopeft/peft/backend/blas" // registers "blas"
	"github.com/gopeft/gopeft/peft/fastgrad"
)

// Environment variables read by Select.
const (
	EnvGoMLX   = "GOMLX_BACKEND"      // GoMLX's backend config; wins over everything
	EnvPlugin  = "GOPEFT_PJRT_PLUGIN" // path of a PJRT plugin .so
	EnvBackend = "GOPEFT_BACKEND"     // "auto" (default), "gpu", "cpu", "blas" or "go"
)

// GoConfig is the GOMLX_BACKEND value of the pure-Go backend.
const GoConfig = "go"

// BLASConfig is the GOMLX_BACKEND value of GoPEFT's CPU backend.
const BLASConfig = blas.Name

// IsCPU reports whether the choice is one of the CPU backends ("go", "blas").
func (c Choice) IsCPU() bool {
	name, _, _ := strings.Cut(c.Config, ":")
	return name == GoConfig || name == BLASConfig
}

// IsXLA reports whether the choice is GoMLX's XLA backend (a PJRT plugin),
// where each new input shape costs a compilation of seconds.
func (c Choice) IsXLA() bool {
	name, _, _ := strings.Cut(c.Config, ":")
	return name == "xla" || c.Plugin != ""
}

func init() {
	// Keep GoMLX offline and on the pure-Go backend unless told otherwise; see
	// the package comment.
	xla.EnableAutoInstall(false)
	backends.DefaultConfig = GoConfig
}

// Choice is the backend Select picked.
type Choice struct {
	Name   string // as shown to users: "go", "xla:cuda", ...
	Config string // the GOMLX_BACKEND value used
	Plugin string // path of the PJRT plugin .so, if any
	Reason string // one sentence: why this backend
	// Env holds environment variables New sets before creating the backend
	// (XLA_FLAGS and GOPJRT_CUDA_CHECKS for a jax CUDA plugin); only ones not
	// already set in the environment are listed.
	Env map[string]string
	// auto: picked by default (not asked for), so New may fall back to "go"
	// if it cannot be created.
	auto bool
}

// Display is Name, plus the plugin path when there is one:
// "xla:cuda (/path/xla_cuda_plugin.so)".
func (c Choice) Display() string {
	if c.Plugin != "" {
		return fmt.Sprintf("%s (%s)", c.Name, c.Plugin)
	}
	return c.Name
}

// IsGPU reports whether the choice is a CUDA/GPU backend (judged by name).
func (c Choice) IsGPU() bool { return isCUDA(c.Name) || isCUDA(c.Plugin) }

// Option changes what Select accepts.
type Option func(*options)

type options struct{ requireGPU bool }

// RequireGPU makes Select fail, with install instructions, when no GPU
// backend is available.
func RequireGPU() Option { return func(o *options) { o.requireGPU = true } }

// Select picks the backend without creating it. It never fails for lack of a
// GPU unless one is required; it fails when an explicit setting is broken
// (GOPEFT_PJRT_PLUGIN names a missing file, GOPEFT_BACKEND is unknown); the
// returned Choice still describes what was asked for, for error reports.
func Select(opts ...Option) (Choice, error) {
	return selectWith(realSystem(), opts...)
}

// New selects a backend, installs the fast DotGeneral gradient
// (fastgrad.Install) and creates the backend.
func New(opts ...Option) (backends.Backend, Choice, error) {
	choice, err := Select(opts...)
	if err != nil {
		return nil, choice, err
	}
	// A failure here is already reported on stderr by fastgrad and leaves the
	// stock gradient in place: slower, still correct, so not fatal.
	_ = fastgrad.Install()
	for k, v := range choice.Env {
		if _, set := os.LookupEnv(k); !set {
			if err := os.Setenv(k, v); err != nil {
				return nil, choice, fmt.Errorf("backend: setting %s for %s: %w", k, choice.Name, err)
			}
		}
	}
	b, err := newWithConfig(deadlockFree(choice.Config))
	if err != nil && choice.auto && choice.Config == BLASConfig {
		// OpenBLAS loaded in Select but the backend would not start: the
		// pure-Go backend still runs everything.
		choice = goChoice(fmt.Sprintf("the blas backend failed (%v), so GoPEFT uses the pure-Go CPU backend.", err))
		b, err = newWithConfig(deadlockFree(choice.Config))
	}
	if err != nil {
		return nil, choice, fmt.Errorf("backend %s: %w (%s); %s", choice.Display(), err, choice.Reason, fixHint(choice))
	}
	// Code that calls backends.New() directly (e.g. library helpers) gets the
	// same backend.
	backends.DefaultConfig = choice.Config
	return b, choice, nil
}

// MustNew is New for notebooks: it panics with the fix in the message.
func MustNew(opts ...Option) backends.Backend {
	b, _, err := New(opts...)
	if err != nil {
		panic(err)
	}
	return b
}

// deadlockFree makes the pure-Go backend execute ops one at a time unless the
// config already chooses. GoMLX v0.26.0's parallel op scheduler deadlocks on
// large graphs (a BERT training step on 2 cores): finished ops hold worker
// slots while they hand their dependents to the scheduler, which is itself
// waiting for a free slot. Sequential op order still runs each DotGeneral
// on several cores, which is where the time goes (DESIGN.md fact 4).
func deadlockFree(config string) string {
	name, opts, _ := strings.Cut(config, ":")
	if name != "go" || strings.Contains(opts, "ops_") {
		return config
	}
	if opts == "" {
		return "go:ops_sequential"
	}
	return config + ",ops_sequential"
}

// newWithConfig turns GoMLX's panics (unknown backend name) into errors.
func newWithConfig(config string) (b backends.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	b, ok, err := newXLAWithOptions(config)
	if !ok {
		b, err = backends.NewWithConfig(config)
	}
	if err == nil {
		enableExecutableCache(b, xlaPlugin(config))
	}
	return b, err
}

// xlaPlugin is the plugin of an "xla:<plugin>" config ("" for others).
func xlaPlugin(config string) string {
	name, plugin, _ := strings.Cut(config, ":")
	if name != "xla" {
		return ""
	}
	return plugin
}

func fixHint(c Choice) string {
	switch {
	case c.Config == GoConfig:
		return "the pure-Go backend should always work: please report this"
	case c.Config == BLASConfig:
		return fmt.Sprintf("%s, or set %s=go for the pure-Go backend", blas.InstallHelp, EnvGoMLX)
	case c.Plugin != "":
		return fmt.Sprintf("check that %s is a PJRT plugin for this machine (for CUDA: pip install -U \"jax[cuda13]\" and ./install.sh --gpu), or unset %s/%s to use the pure-Go backend", c.Plugin, EnvGoMLX, EnvPlugin)
	case c.IsGPU():
		return fmt.Sprintf("no CUDA plugin is installed: %s; or unset %s to run on the CPU", GPUInstallHelp, EnvGoMLX)
	default:
		return fmt.Sprintf("fix or unset %s (use %s=go for the pure-Go backend)", EnvGoMLX, EnvGoMLX)
	}
}

// ErrNoGPU is wrapped by Select's error when a GPU is required and missing.
var ErrNoGPU = errors.New("no GPU backend available")

// GPUInstallHelp says how to get a GPU backend.
const GPUInstallHelp = `to get one: on a machine with an NVIDIA GPU run ./install.sh --gpu ` +
	`(it finds or asks for a jax CUDA plugin: pip install -U "jax[cuda13]"), ` +
	`or set GOPEFT_PJRT_PLUGIN=/path/to/xla_cuda_plugin.so; ` +
	`unset GOPEFT_BACKEND=gpu to run on the CPU`

// system is everything Select looks at, so tests can fake it.
type system struct {
	getenv      func(string) (string, bool)
	isFile      func(string) bool
	isDir       func(string) bool
	readFile    func(string) ([]byte, error)
	glob        func(string) ([]string, error)
	hasGPU      func() bool
	sitePackage func() []string // python site-packages/dist-packages dirs
	configDir   func() string   // user config dir (XDG_CONFIG_HOME or ~/.config)
	// openBLAS reports whether the blas backend's library loads, and says
	// where it was found or what is missing.
	openBLAS func() (bool, string)
}

// RecordedPlugin returns the plugin path install.sh --gpu recorded and the
// file it is in; both empty when none is recorded. The path may no longer exist.
func RecordedPlugin() (plugin, file string) {
	s := realSystem()
	for _, f := range recordedFiles(s) {
		if p, ok := readRecorded(s, f); ok {
			return p, f
		}
	}
	return "", ""
}

// RecordedPluginFiles are where install.sh --gpu records a plugin path, in
// the order Select reads them.
func RecordedPluginFiles() []string { return recordedFiles(realSystem()) }

func recordedFiles(s system) []string {
	var files []string
	if d := s.configDir(); d != "" {
		files = append(files, filepath.Join(d, "gopeft", "pjrt_plugin"))
	}
	return append(files, "/etc/gopeft/pjrt_plugin")
}

func selectWith(s system, opts ...Option) (Choice, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	force := "" // a CPU backend GOPEFT_BACKEND asks for: "cpu" (the best one), "go" or "blas"
	if v, ok := s.getenv(EnvBackend); ok {
		switch w := strings.ToLower(strings.TrimSpace(v)); w {
		case "", "auto":
		case "gpu", "cuda":
			o.requireGPU = true
		case "go", "cpu", "blas":
			force = w
		default:
			return Choice{}, fmt.Errorf("%s=%q is not one of auto, gpu, cpu, blas, go; fix or unset it", EnvBackend, v)
		}
	}

	// 1. GoMLX's own variable, as given.
	if v, ok := s.getenv(EnvGoMLX); ok && strings.TrimSpace(v) != "" {
		c := fromConfig(v, s)
		c.Reason = fmt.Sprintf("%s=%s is set.", EnvGoMLX, v)
		if o.requireGPU && !c.IsGPU() {
			return c, fmt.Errorf("%w: a GPU is required (%s=gpu or RequireGPU) but %s=%s selects %s; set %s to a CUDA plugin or unset it; %s",
				ErrNoGPU, EnvBackend, EnvGoMLX, v, c.Name, EnvGoMLX, GPUInstallHelp)
		}
		return c, nil
	}
	if force != "" && !o.requireGPU {
		switch force {
		case "go":
			return goChoice(fmt.Sprintf("%s=go asks for the pure-Go backend.", EnvBackend)), nil
		case "blas":
			ok, info := blasStatus(s)
			c := Choice{Name: BLASConfig, Config: BLASConfig, Reason: fmt.Sprintf("%s=blas asks for GoPEFT's CPU backend (%s).", EnvBackend, info)}
			if !ok {
				return c, fmt.Errorf("%s=blas: %s; %s", EnvBackend, info, blas.InstallHelp)
			}
			return c, nil
		}
		return cpuChoice(s, fmt.Sprintf("%s=cpu asks for a CPU backend", EnvBackend)), nil
	}

	// 2. An explicit plugin path.
	if p, ok := s.getenv(EnvPlugin); ok && strings.TrimSpace(p) != "" {
		p = strings.TrimSpace(p)
		if !filepath.IsAbs(p) {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
		}
		if !s.isFile(p) {
			c := pluginChoice(p, s)
			c.Reason = fmt.Sprintf("%s=%s is set, but the file is missing.", EnvPlugin, p)
			return c, fmt.Errorf("%s=%s: no such file; point it at a PJRT plugin .so (e.g. <site-packages>/jax_plugins/xla_cuda13/xla_cuda_plugin.so) or unset it", EnvPlugin, p)
		}
		c := pluginChoice(p, s)
		c.Reason = fmt.Sprintf("%s=%s is set.", EnvPlugin, p)
		if o.requireGPU && !c.IsGPU() {
			return c, fmt.Errorf("%w: a GPU is required but %s=%s does not look like a CUDA plugin; %s", ErrNoGPU, EnvPlugin, p, GPUInstallHelp)
		}
		return c, nil
	}

	gpu := s.hasGPU()
	var notes []string

	// 3. A plugin recorded by install.sh --gpu.
	for _, f := range recordedFiles(s) {
		p, ok := readRecorded(s, f)
		if !ok {
			continue
		}
		switch {
		case !s.isFile(p):
			notes = append(notes, fmt.Sprintf("the plugin recorded in %s (%s) is gone (re-run ./install.sh --gpu)", f, p))
		case isCUDA(p) && !gpu:
			notes = append(notes, fmt.Sprintf("the plugin recorded in %s needs a GPU and none is present", f))
		default:
			c := pluginChoice(p, s)
			c.Reason = fmt.Sprintf("./install.sh --gpu recorded this plugin in %s.", f)
			return c, nil
		}
		break // only the first recorded file that names something counts
	}

	// 4. A pip-installed jax CUDA plugin; only worth looking for with a GPU.
	if gpu {
		if found := findPipPlugins(s); len(found) > 0 {
			c := pluginChoice(found[0], s)
			c.Reason = fmt.Sprintf("an NVIDIA GPU is present and a pip-installed jax CUDA plugin was found in %s.", sitePackagesOf(found[0]))
			return c, nil
		}
		notes = append(notes, "a GPU is present but no PJRT CUDA plugin was found (run ./install.sh --gpu)")
	}

	if o.requireGPU {
		why := "no NVIDIA GPU found (no /dev/nvidia0, nvidia-smi lists none)"
		if gpu {
			why = "an NVIDIA GPU is present but no PJRT CUDA plugin was found"
		}
		if len(notes) > 0 {
			why += "; " + strings.Join(notes, "; ")
		}
		return Choice{}, fmt.Errorf("%w: a GPU is required but %s; %s", ErrNoGPU, why, GPUInstallHelp)
	}

	var reason string
	switch {
	case len(notes) > 0:
		reason = strings.ToUpper(notes[0][:1]) + notes[0][1:]
		if len(notes) > 1 {
			reason += "; " + strings.Join(notes[1:], "; ")
		}
	case gpu:
		reason = "No PJRT plugin is configured (GOMLX_BACKEND, GOPEFT_PJRT_PLUGIN, ./install.sh --gpu)"
	default:
		reason = "No NVIDIA GPU found and no PJRT plugin is configured"
	}
	return cpuChoice(s, reason), nil
}

// cpuChoice is the CPU backend: blas when OpenBLAS loads, else go; the
// reason says which and why.
func cpuChoice(s system, why string) Choice {
	ok, info := blasStatus(s)
	if ok {
		return Choice{Name: BLASConfig, Config: BLASConfig, auto: true,
			Reason: fmt.Sprintf("%s, so GoPEFT uses its CPU backend blas (%s).", why, info)}
	}
	return goChoice(fmt.Sprintf("%s, so GoPEFT uses the pure-Go CPU backend go (%s; %s for the fast CPU backend).", why, info, blas.InstallHelp))
}

// CPUName is the CPU backend GoPEFT picks on this machine, "blas" or "go",
// for callers that set GOMLX_BACKEND for other processes (the kernel's cells).
func CPUName() string { return cpuChoice(realSystem(), "").Name }

func blasStatus(s system) (bool, string) {
	if s.openBLAS == nil {
		return false, "OpenBLAS not looked for"
	}
	return s.openBLAS()
}

func goChoice(reason string) Choice {
	return Choice{Name: GoConfig, Config: GoConfig, Reason: reason}
}

// readRecorded returns the first non-blank, non-comment line of a recorded
// plugin file.
func readRecorded(s system, file string) (string, bool) {
	data, err := s.readFile(file)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return line, true
		}
	}
	return "", false
}

// fromConfig describes a GOMLX_BACKEND value; "xla:/abs/plugin.so" gets the
// plugin's name and path.
func fromConfig(config string, s system) Choice {
	config = strings.TrimSpace(config)
	name, rest, _ := strings.Cut(config, ":")
	plugin, _, _ := strings.Cut(rest, ",")
	if filepath.IsAbs(plugin) {
		c := pluginChoice(plugin, s)
		c.Config = config
		c.Name = name + ":" + pluginShortName(plugin)
		return c
	}
	return Choice{Name: config, Config: config}
}

// pluginChoice builds the xla Choice for an absolute plugin path, with the
// CUDA environment DESIGN.md fact 3 needs when the plugin is CUDA and an
// nvidia/ library tree sits beside it (pip's layout).
func pluginChoice(path string, s system) Choice {
	c := Choice{
		Name:   "xla:" + pluginShortName(path),
		Config: "xla:" + path,
		Plugin: path,
	}
	if isCUDA(path) {
		env := map[string]string{}
		if _, set := s.getenv("GOPJRT_CUDA_CHECKS"); !set {
			// go-xla v0.1.4's check sets a hard-coded CUDA directory otherwise.
			env["GOPJRT_CUDA_CHECKS"] = "0"
		}
		if flags, _ := s.getenv("XLA_FLAGS"); !strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
			if nv := nvidiaDir(path, s); nv != "" {
				f := "--xla_gpu_cuda_data_dir=" + nv
				if flags != "" {
					f = flags + " " + f
				}
				env["XLA_FLAGS"] = f
			}
		}
		if len(env) > 0 {
			c.Env = env
		}
	}
	return c
}

// nvidiaDir finds the nvidia/ tree (pip's nvidia-* CUDA wheels) next to the
// plugin: <site-packages>/jax_plugins/xla_cudaNN/plugin.so -> <site-packages>/nvidia.
func nvidiaDir(plugin string, s system) string {
	d := filepath.Dir(plugin)
	for i := 0; i < 3; i++ {
		d = filepath.Dir(d)
		nv := filepath.Join(d, "nvidia")
		if s.isDir(nv) {
			return nv
		}
	}
	return ""
}

func sitePackagesOf(plugin string) string {
	return filepath.Dir(filepath.Dir(filepath.Dir(plugin)))
}

// pluginShortName: ".../xla_cuda_plugin.so" -> "cuda", "pjrt_c_api_cpu_plugin.so" -> "cpu".
func pluginShortName(path string) string {
	if isCUDA(path) {
		return "cuda"
	}
	n := filepath.Base(path)
	n = strings.TrimSuffix(n, filepath.Ext(n))
	for _, p := range []string{"pjrt_c_api_", "pjrt_", "libpjrt_", "xla_"} {
		n = strings.TrimPrefix(n, p)
	}
	n = strings.TrimSuffix(n, "_plugin")
	if n == "" {
		return "plugin"
	}
	return n
}

func isCUDA(s string) bool {
	u := strings.ToLower(s)
	return strings.Contains(u, "cuda") || strings.Contains(u, "nvidia")
}
