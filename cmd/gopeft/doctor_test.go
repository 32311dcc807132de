package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/backend"
)

func TestCPUBackendCheck(t *testing.T) {
	goChoice := backend.Choice{Name: "go", Config: "go", Reason: "No NVIDIA GPU found."}
	missing := "OpenBLAS not found (libopenblas.so.0: cannot open shared object file): apt-get install libopenblas0 to use the fast CPU backend"
	found := "OpenBLAS found at /usr/lib/x86_64-linux-gnu/libopenblas.so.0"
	for _, tc := range []struct {
		name       string
		choice     backend.Choice
		libOK      bool
		info       string
		registered bool
		ok         bool
		detail     string // substring
		fix        string // substring; "" means no fix
	}{
		{"no OpenBLAS", goChoice, false, missing, true, false, "go (pure Go, the slow one)", "apt-get install libopenblas0"},
		{"blas in use", backend.Choice{Name: "blas", Config: "blas"}, true, found, true, true, "blas (GoPEFT's CPU backend): " + found, ""},
		{"build without blas", goChoice, true, found, false, true, `no "blas" backend`, ""},
		{"go chosen, blas there", goChoice, true, found, true, true, "GOMLX_BACKEND=blas", ""},
		{"GPU", backend.Choice{Name: "xla:cuda", Config: "xla:/p/xla_cuda_plugin.so", Plugin: "/p/xla_cuda_plugin.so"}, false, missing, true, true, "not in use (xla:cuda", ""},
	} {
		c := cpuBackendCheck(tc.choice, tc.libOK, tc.info, tc.registered)
		if c.OK != tc.ok || c.Required || !strings.Contains(c.Detail, tc.detail) ||
			(tc.fix == "") != (c.Fix == "") || !strings.Contains(c.Fix, tc.fix) {
			t.Errorf("%s: got %+v; want ok %v, detail with %q, fix with %q", tc.name, c, tc.ok, tc.detail, tc.fix)
		}
	}
}

func TestDoctorXLACache(t *testing.T) {
	t.Setenv("GOPEFT_XLA_CACHE", "off")
	if c := xlaCacheCheck(); !c.OK || !strings.Contains(c.Detail, "off") {
		t.Errorf("cache off: %+v", c)
	}
	dir := filepath.Join(t.TempDir(), "xla")
	t.Setenv("GOPEFT_XLA_CACHE", dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "k.pjrt"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := xlaCacheCheck(); !c.OK || !strings.Contains(c.Detail, "1 executables, 1.0 MB") {
		t.Errorf("cache with one entry: %+v", c)
	}
}
