package kernel

import (
	"slices"
	"testing"
)

// Cells get the CPU backend GoPEFT would pick (blas when OpenBLAS loads,
// else go), unless the user set GOMLX_BACKEND.
func TestChildEnvCPUBackend(t *testing.T) {
	saved := cpuBackend
	defer func() { cpuBackend = saved }()
	for _, want := range []string{"blas", "go"} {
		cpuBackend = func() string { return want }
		t.Setenv("GOMLX_BACKEND", "")
		if env := childEnv(t.TempDir(), "/bin/true"); !slices.Contains(env, "GOMLX_BACKEND="+want) {
			t.Errorf("OpenBLAS %v: cell env lacks GOMLX_BACKEND=%s", want == "blas", want)
		}
	}
	t.Setenv("GOMLX_BACKEND", "xla:/x/plugin.so")
	for _, kv := range childEnv(t.TempDir(), "/bin/true") {
		if kv == "GOMLX_BACKEND=blas" || kv == "GOMLX_BACKEND=go" {
			t.Errorf("a user's GOMLX_BACKEND was overridden: %s", kv)
		}
	}
}
