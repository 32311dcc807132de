package backend

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

func TestCacheDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		name string
		env  func(string) string
		want string
	}{
		{"default under HOME", env("HOME", "/home/s"), "/home/s/.cache/gopeft/xla"},
		{"XDG_CACHE_HOME wins", env("HOME", "/home/s", "XDG_CACHE_HOME", "/c"), "/c/gopeft/xla"},
		{"explicit", env(EnvXLACache, "/x", "HOME", "/home/s"), "/x"},
		{"off", env(EnvXLACache, "off", "HOME", "/home/s"), ""},
		{"no home", env(), ""},
	} {
		if got := cacheDir(c.env); got != c.want {
			t.Errorf("%s: cacheDir = %q, want %q", c.name, got, c.want)
		}
	}
}

// A key must change with anything that changes the compiled code, and only
// with that.
func TestCacheKeyCoversProgramOptionsAndSalt(t *testing.T) {
	salt := cacheSalt("xla:cuda", "H200", "/no/plugin.so", "--xla_flag=1")
	base := cacheKey(salt, "mlir", []byte("program"), []byte("options"))
	if again := cacheKey(cacheSalt("xla:cuda", "H200", "/no/plugin.so", "--xla_flag=1"), "mlir", []byte("program"), []byte("options")); again != base {
		t.Fatal("the same inputs gave two keys")
	}
	for name, k := range map[string]string{
		"program":  cacheKey(salt, "mlir", []byte("program2"), []byte("options")),
		"options":  cacheKey(salt, "mlir", []byte("program"), []byte("options2")),
		"format":   cacheKey(salt, "hlo", []byte("program"), []byte("options")),
		"boundary": cacheKey(salt, "mlir", []byte("programo"), []byte("ptions")),
		"device":   cacheKey(cacheSalt("xla:cuda", "A100", "/no/plugin.so", "--xla_flag=1"), "mlir", []byte("program"), []byte("options")),
		"flags":    cacheKey(cacheSalt("xla:cuda", "H200", "/no/plugin.so", ""), "mlir", []byte("program"), []byte("options")),
	} {
		if k == base {
			t.Errorf("changing the %s kept the key", name)
		}
	}
	// The plugin file's identity enters the salt: a reinstalled plugin
	// must not load executables compiled by the old one.
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin.so")
	if err := os.WriteFile(plugin, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	s1 := cacheSalt("xla:cuda", "H200", plugin, "")
	if err := os.WriteFile(plugin, []byte("v2 longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s2 := cacheSalt("xla:cuda", "H200", plugin, ""); string(s1) == string(s2) {
		t.Error("a changed plugin file kept the salt")
	}
}

func TestPruneCacheDropsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, name := range []string{"old.pjrt", "mid.pjrt", "new.pjrt", "other.txt"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(i-3) * time.Hour)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	pruneCache(dir, 250, filepath.Join(dir, "old.pjrt")) // old is the one just stored; mid goes
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{"new.pjrt", "old.pjrt", "other.txt"}
	if len(left) != len(want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	for i := range want {
		if left[i] != want[i] {
			t.Fatalf("left %v, want %v", left, want)
		}
	}
}

// Without a PJRT plugin in the process the hook has nothing to patch, and
// the CPU backends never turn the cache on.
func TestExecutableCacheOffWithoutXLA(t *testing.T) {
	if err := installCompileHook(); err == nil {
		t.Fatal("installCompileHook found a PJRT plugin in a CPU test process")
	}
	b, _, err := New()
	if err != nil {
		t.Fatal(err)
	}
	enableExecutableCache(b, "")
	if s := ExecutableCacheStats(); s.Hits+s.Misses+s.Failures != 0 {
		t.Fatalf("a CPU backend used the executable cache: %+v", s)
	}
}

// TestGPUExecutableCache (GOPEFT_TEST_GPU=1, see gpucheck.sh): the first
// compile of a graph stores its executable, compiling the same graph again
// loads it, and the loaded executable computes the same result.
func TestGPUExecutableCache(t *testing.T) {
	if os.Getenv("GOPEFT_TEST_GPU") != "1" {
		t.Skip("set GOPEFT_TEST_GPU=1 on a GPU machine")
	}
	t.Setenv(EnvXLACache, t.TempDir())
	b, _, err := New(RequireGPU())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if s := ExecutableCacheStats(); s.Off != "" {
		t.Fatalf("executable cache off on the GPU: %s", s.Off)
	}
	f := func(x *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Tanh(graph.Einsum("ij,jk->ik", x, x)))
	}
	x := [][]float32{{0.1, 0.2}, {0.3, 0.4}}
	first := graph.MustExecOnce(b, f, x).Value().(float32)
	second := graph.MustExecOnce(b, f, x).Value().(float32)
	s := ExecutableCacheStats()
	t.Logf("cache %+v; results %v %v", s, first, second)
	if s.Misses < 1 || s.Hits < 1 || s.Failures != 0 {
		t.Fatalf("want a miss then a hit and no failure, got %+v", s)
	}
	if first != second {
		t.Fatalf("the loaded executable computed %v, the compiled one %v", second, first)
	}
	entries, _ := os.ReadDir(s.Dir)
	if len(entries) == 0 {
		t.Fatal("no executable stored")
	}
}

func TestNVIDIAModels(t *testing.T) {
	dir := t.TempDir()
	for bus, model := range map[string]string{"0000:1b:00.0": "NVIDIA H200", "0000:04:00.0": "NVIDIA A100-SXM4-80GB"} {
		if err := os.MkdirAll(filepath.Join(dir, bus), 0o755); err != nil {
			t.Fatal(err)
		}
		info := "Model: \t\t " + model + "\nIRQ:\t\t 42\nGPU UUID:\t GPU-x\n"
		if err := os.WriteFile(filepath.Join(dir, bus, "information"), []byte(info), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := nvidiaModels(dir), "NVIDIA A100-SXM4-80GB, NVIDIA H200"; got != want {
		t.Errorf("nvidiaModels = %q, want %q", got, want)
	}
	if got := nvidiaModels(filepath.Join(dir, "none")); got != "" {
		t.Errorf("no driver directory: %q, want empty", got)
	}
}
