package backend

import (
	"os"
	"strings"
	"testing"
)

// TestGPUWithoutPluginErrors: every way of asking for a GPU backend on a
// machine without a plugin (or without a GPU) is refused, offline, with an
// error naming the problem and how to get one or run on the CPU.
func TestGPUWithoutPluginErrors(t *testing.T) {
	for _, c := range []struct {
		env, value string
		want       []string // the problem, then the fix
	}{
		{EnvGoMLX, "xla:cuda", []string{"no plugins found", "./install.sh --gpu", "unset GOMLX_BACKEND"}},
		{EnvBackend, "gpu", []string{"no NVIDIA GPU found", "./install.sh --gpu", "unset GOPEFT_BACKEND=gpu"}},
		{EnvBackend, "cuda", []string{"a GPU is required", "GOPEFT_PJRT_PLUGIN=/path/to/xla_cuda_plugin.so"}},
		{EnvPlugin, "/nonexistent/xla_cuda_plugin.so", []string{"no such file", "point it at a PJRT plugin .so", "or unset it"}},
		{EnvGoMLX, "xla:/nonexistent/xla_cuda_plugin.so", []string{"failed to load PJRT plugin", "./install.sh --gpu", "unset"}},
		{EnvBackend, "tpu", []string{`GOPEFT_BACKEND="tpu" is not one of auto, gpu, cpu, blas, go`, "fix or unset it"}},
		{EnvGoMLX, "nosuchbackend", []string{"nosuchbackend", "fix or unset GOMLX_BACKEND"}},
	} {
		t.Run(c.env+"="+c.value, func(t *testing.T) {
			for _, k := range []string{EnvGoMLX, EnvBackend, EnvPlugin} {
				t.Setenv(k, "") // restored after the test
				os.Unsetenv(k)
			}
			t.Setenv(c.env, c.value)
			// No plugin anywhere GoMLX or GoPEFT would look.
			t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
			t.Setenv("HOME", t.TempDir())
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			var err error
			if c.env == EnvGoMLX {
				_, _, err = New() // GoMLX itself looks for the plugin
			} else {
				// A machine with no GPU and no plugin, whatever this one has.
				_, err = selectWith(fakeSystem{env: map[string]string{c.env: c.value}}.system())
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
