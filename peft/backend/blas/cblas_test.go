package blas

import (
	"strings"
	"sync"
	"testing"
)

func noEnv(string) (string, bool) { return "", false }

// withLibraryNames makes lib() load from names, as on another machine, and
// restores the real state afterwards.
func withLibraryNames(t *testing.T, names []string) {
	t.Helper()
	oldNames, oldLoaded, oldErr := libraryNames, loaded, loadError
	libraryNames, loadOnce = names, sync.Once{}
	t.Cleanup(func() {
		libraryNames, loaded, loadError = oldNames, oldLoaded, oldErr
		loadOnce = sync.Once{}
		loadOnce.Do(func() {}) // the restored answer stands
	})
}

func TestUnavailableSaysWhatToInstall(t *testing.T) {
	lib() // settle the real answer first, so the cleanup restores it
	withLibraryNames(t, []string{"libgopeft-no-such-blas.so.0"})
	if available() {
		t.Fatal("available() with no loadable library")
	}
	info := libraryInfo()
	for _, want := range []string{"OpenBLAS not found", "libgopeft-no-such-blas.so.0", "apt-get install libopenblas0"} {
		if !strings.Contains(info, want) {
			t.Errorf("libraryInfo() = %q, want it to contain %q", info, want)
		}
	}
	if ok, s := LibraryStatus(); ok || s != info {
		t.Errorf("LibraryStatus() = %v, %q; want false, %q", ok, s, info)
	}
}

func TestLibraryWithoutCBLASIsSkipped(t *testing.T) {
	// libc loads everywhere and has no cblas_sgemm: like netlib's libblas.so.3.
	_, err := load([]string{"libc.so.6"}, noEnv, 1)
	if err == nil || !strings.Contains(err.Error(), "libc.so.6: loaded but has no cblas_sgemm") {
		t.Fatalf("load(libc) error = %v, want it to say libc has no cblas_sgemm", err)
	}
}

func TestLoadsOpenBLAS(t *testing.T) {
	if !available() {
		t.Skipf("no BLAS on this machine: %s", libraryInfo())
	}
	info := libraryInfo()
	if !strings.Contains(info, "found at /") {
		t.Errorf("libraryInfo() = %q, want the library's absolute path", info)
	}
	// A missing first candidate falls through to the next one.
	l, err := load(append([]string{"libgopeft-no-such-blas.so.0"}, libraryNames...), noEnv, loaded.threads)
	if err != nil || l.path != loaded.path {
		t.Errorf("load with a missing first name = %v, %v; want %s", l, err, loaded.path)
	}
}

func TestDefaultThreads(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		name  string
		env   func(string) (string, bool)
		procs int
		want  int
	}{
		{"one thread by default", noEnv, 2, 1},
		{"OPENBLAS_NUM_THREADS wins", env("OPENBLAS_NUM_THREADS", "1"), 2, 0},
		{"OMP_NUM_THREADS wins", env("OMP_NUM_THREADS", "3"), 2, 0},
		{"unparsable value is ignored", env("OPENBLAS_NUM_THREADS", "many"), 4, 1},
		{"at least one", noEnv, 0, 1},
	} {
		if got := defaultThreads(tc.env, tc.procs); got != tc.want {
			t.Errorf("%s: defaultThreads = %d, want %d", tc.name, got, tc.want)
		}
	}
}
