package blas

import "sync"

// serialWork is the amount of work (elements times a rough per-element cost)
// below which an op runs on the calling goroutine: starting goroutines costs
// more than it saves on small tensors.
const serialWork = 1 << 15

// parallelFor runs f over [0, n) in at most workers contiguous chunks. The
// chunks depend only on n and workers, never on timing, and every output
// element is computed by exactly one chunk, so results are bit-identical
// run to run.
func parallelFor(workers, n, cost int, f func(lo, hi int)) {
	if workers <= 1 || n < 2 || n*cost < serialWork {
		f(0, n)
		return
	}
	chunks := min(workers, n)
	size := (n + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := size; lo < n; lo += size {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, min(lo+size, n))
	}
	f(0, min(size, n))
	wg.Wait()
}
