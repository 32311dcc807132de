package blas

// OpenBLAS is loaded with dlopen at run time rather than linked, so the
// package (and every binary importing it) builds and runs on machines
// without OpenBLAS: there the backend reports itself unavailable and
// peft/backend falls back to "go".

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// CBLAS enum values (cblas.h); the library is called through pointers, so
// no header of it is needed at build time.
enum { gp_RowMajor = 101, gp_NoTrans = 111, gp_Trans = 112 };

// OpenBLAS's LP64 ABI (Debian's libopenblas0): blasint is int.
typedef void (*gp_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                            const float *, int, float, float *, int);
typedef void (*gp_dgemm_fn)(int, int, int, int, int, int, double, const double *, int,
                            const double *, int, double, double *, int);
typedef void (*gp_set_threads_fn)(int);
typedef int (*gp_get_threads_fn)(void);
typedef char *(*gp_get_config_fn)(void);

// gp_dlopen reads dlerror in the same call: its state is per OS thread, and
// a goroutine may change threads between two cgo calls.
static void *gp_dlopen(const char *path, const char **err) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	*err = h == NULL ? dlerror() : NULL;
	return h;
}
static void *gp_dlsym(void *h, const char *name) { return dlsym(h, name); }

// gp_where is the file a resolved symbol lives in (the real path behind a
// soname or an alternatives link).
static const char *gp_where(void *sym) {
	Dl_info info;
	if (sym == NULL || dladdr(sym, &info) == 0) return NULL;
	return info.dli_fname;
}

static void gp_set_threads(void *fn, int n) { ((gp_set_threads_fn)fn)(n); }
static int gp_get_threads(void *fn) { return ((gp_get_threads_fn)fn)(); }
static const char *gp_get_config(void *fn) { return ((gp_get_config_fn)fn)(); }

// The batch loops run in C so that a batched product costs one cgo
// transition, not one per matrix. Offsets are in elements; C is dense
// row-major with stride ldc between rows and ldc*m between matrices.
static void gp_sgemm_batch(void *fn, int transA, int transB, int m, int n, int k,
                           const float *a, const int64_t *aoff, int lda,
                           const float *b, const int64_t *boff, int ldb,
                           float *c, int ldc, int count) {
	gp_sgemm_fn f = (gp_sgemm_fn)fn;
	int ta = transA ? gp_Trans : gp_NoTrans, tb = transB ? gp_Trans : gp_NoTrans;
	for (int i = 0; i < count; i++) {
		f(gp_RowMajor, ta, tb, m, n, k, 1.0f, a + aoff[i], lda, b + boff[i], ldb, 0.0f,
		  c + (int64_t)i * m * ldc, ldc);
	}
}

static void gp_dgemm_batch(void *fn, int transA, int transB, int m, int n, int k,
                           const double *a, const int64_t *aoff, int lda,
                           const double *b, const int64_t *boff, int ldb,
                           double *c, int ldc, int count) {
	gp_dgemm_fn f = (gp_dgemm_fn)fn;
	int ta = transA ? gp_Trans : gp_NoTrans, tb = transB ? gp_Trans : gp_NoTrans;
	for (int i = 0; i < count; i++) {
		f(gp_RowMajor, ta, tb, m, n, k, 1.0, a + aoff[i], lda, b + boff[i], ldb, 0.0,
		  c + (int64_t)i * m * ldc, ldc);
	}
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// libraryNames are tried in order with dlopen; tests replace it to fake a
// machine without OpenBLAS. libblas.so.3 counts only when it exports
// cblas_sgemm (OpenBLAS installed as the system BLAS does; netlib's does not).
var libraryNames = []string{"libopenblas.so.0", "libopenblas.so", "libblas.so.3"}

// installHint is what a user runs to get the library.
const installHint = "apt-get install libopenblas0"

// library is a loaded BLAS.
type library struct {
	path    string         // file the gemm symbols were found in
	config  string         // openblas_get_config(), "" when not OpenBLAS
	threads int            // OpenBLAS threads after load (1 when unknown)
	sgemm   unsafe.Pointer // cblas_sgemm
	dgemm   unsafe.Pointer // cblas_dgemm
}

var (
	loadOnce  sync.Once
	loaded    *library
	loadError error
)

// lib loads the library on first use; later calls return the same answer.
func lib() (*library, error) {
	loadOnce.Do(func() { loaded, loadError = load(libraryNames, os.LookupEnv, runtime.GOMAXPROCS(0)) })
	return loaded, loadError
}

// available reports whether BLAS is loaded and usable (loading it once).
func available() bool {
	l, err := lib()
	return err == nil && l != nil
}

// libraryInfo says what was loaded, or why nothing was and what to install.
func libraryInfo() string {
	l, err := lib()
	if err != nil {
		return err.Error()
	}
	return l.describe()
}

// LibraryStatus is available and libraryInfo for other packages (gopeft
// doctor, benchmarks).
func LibraryStatus() (ok bool, info string) { return available(), libraryInfo() }

func (l *library) describe() string {
	name := "BLAS"
	if l.config != "" {
		name = "OpenBLAS"
	}
	s := fmt.Sprintf("%s found at %s", name, l.path)
	if l.config != "" {
		s += " (" + strings.TrimSpace(l.config) + ")"
	}
	return s + fmt.Sprintf(", %d thread(s)", l.threads)
}

// load tries names in order and returns the first library that has both
// cblas_sgemm and cblas_dgemm. getenv and procs are parameters so tests can
// check the thread policy without touching the process.
func load(names []string, getenv func(string) (string, bool), procs int) (*library, error) {
	var tried []string
	for _, name := range names {
		cname := C.CString(name)
		var cerr *C.char
		h := C.gp_dlopen(cname, &cerr)
		C.free(unsafe.Pointer(cname))
		if h == nil {
			why := name + ": cannot be loaded"
			if cerr != nil {
				why = C.GoString(cerr) // glibc's text starts with the name
				if !strings.HasPrefix(why, name) {
					why = name + ": " + why
				}
			}
			tried = append(tried, why)
			continue
		}
		sgemm, dgemm := sym(h, "cblas_sgemm"), sym(h, "cblas_dgemm")
		if sgemm == nil || dgemm == nil {
			// Keep the handle: dlclose of a library that started threads
			// or registered atfork handlers is not safe.
			tried = append(tried, fmt.Sprintf("%s: loaded but has no cblas_sgemm/cblas_dgemm", name))
			continue
		}
		l := &library{path: name, sgemm: sgemm, dgemm: dgemm, threads: 1}
		if p := C.gp_where(sgemm); p != nil {
			l.path = C.GoString(p)
		}
		if f := sym(h, "openblas_get_config"); f != nil {
			if c := C.gp_get_config(f); c != nil {
				l.config = C.GoString(c)
			}
		}
		set, get := sym(h, "openblas_set_num_threads"), sym(h, "openblas_get_num_threads")
		if n := defaultThreads(getenv, procs); set != nil && n > 0 {
			C.gp_set_threads(set, C.int(n))
		}
		if get != nil {
			l.threads = int(C.gp_get_threads(get))
		}
		return l, nil
	}
	return nil, fmt.Errorf("OpenBLAS not found (%s): %s to use the fast CPU backend", strings.Join(tried, "; "), installHint)
}

// defaultThreads is the thread count to set, or 0 to leave OpenBLAS's own
// choice: it already honours OPENBLAS_NUM_THREADS (and GOTO_NUM_THREADS,
// OMP_NUM_THREADS) at load, and an explicit setting must win. Otherwise one
// thread: Execute already runs independent steps on GOMAXPROCS workers, and
// the shipped model's products are too small for OpenBLAS's threads (its
// idle ones spin in sched_yield, taking the core another step could use).
func defaultThreads(getenv func(string) (string, bool), procs int) int {
	for _, v := range []string{"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"} {
		if s, ok := getenv(v); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
				return 0
			}
		}
	}
	return 1
}

func sym(h unsafe.Pointer, name string) unsafe.Pointer {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.gp_dlsym(h, cname)
}

// gemmBatch runs count products C_i = op(A_i) op(B_i), row-major, with the
// i-th A and B at element offsets aoff[i] and boff[i] and C_i at i*m*ldc.
// The slices are pinned by cgo for the duration of the call only.
func gemmBatch[T float32 | float64](l *library, transA, transB bool, m, n, k int,
	a []T, aoff []int64, lda int, b []T, boff []int64, ldb int, c []T, ldc int) {
	count := len(aoff)
	if count == 0 {
		return
	}
	ta, tb := cbool(transA), cbool(transB)
	switch a := any(a).(type) {
	case []float32:
		bb, cc := any(b).([]float32), any(c).([]float32)
		C.gp_sgemm_batch(l.sgemm, ta, tb, C.int(m), C.int(n), C.int(k),
			(*C.float)(unsafe.Pointer(&a[0])), (*C.int64_t)(unsafe.Pointer(&aoff[0])), C.int(lda),
			(*C.float)(unsafe.Pointer(&bb[0])), (*C.int64_t)(unsafe.Pointer(&boff[0])), C.int(ldb),
			(*C.float)(unsafe.Pointer(&cc[0])), C.int(ldc), C.int(count))
	case []float64:
		bb, cc := any(b).([]float64), any(c).([]float64)
		C.gp_dgemm_batch(l.dgemm, ta, tb, C.int(m), C.int(n), C.int(k),
			(*C.double)(unsafe.Pointer(&a[0])), (*C.int64_t)(unsafe.Pointer(&aoff[0])), C.int(lda),
			(*C.double)(unsafe.Pointer(&bb[0])), (*C.int64_t)(unsafe.Pointer(&boff[0])), C.int(ldb),
			(*C.double)(unsafe.Pointer(&cc[0])), C.int(ldc), C.int(count))
	}
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
