package compare

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// Peak memory is the process's resident set (RSS), which on the CPU
// backends holds every tensor. Before each entry the Go heap is collected
// and returned to the OS, so an entry starts near the process's floor. On
// Linux the kernel's peak (VmHWM) is reset through /proc/self/clear_refs
// and read after the entry: the exact peak. Where that reset is refused,
// VmRSS is sampled every 10 ms (a peak between samples can be missed).
// Elsewhere nothing is measured (0). On a GPU backend the number is still
// host RSS: GoMLX's backend interface reports no device memory (see
// peft/estimate for device estimates).
const sampleEvery = 10 * time.Millisecond

// MemoryMethod says how this process measures peak memory.
func MemoryMethod() string {
	switch {
	case canResetPeak():
		return "process peak RSS (Linux VmHWM, reset per entry through /proc/self/clear_refs); device memory not included"
	case readStatus("VmRSS") > 0:
		return "process RSS sampled every 10 ms (Linux /proc/self/status); device memory not included"
	}
	return "not measured on " + runtime.GOOS
}

type memoryProbe struct {
	start   int64
	reset   bool
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	sampled int64
}

func startMemoryProbe() *memoryProbe {
	runtime.GC()
	debug.FreeOSMemory()
	p := &memoryProbe{start: readStatus("VmRSS")}
	if p.start == 0 {
		return p
	}
	if p.reset = resetPeak(); p.reset {
		return p
	}
	p.done = make(chan struct{})
	p.sampled = p.start
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				if v := readStatus("VmRSS"); v > 0 {
					p.mu.Lock()
					p.sampled = max(p.sampled, v)
					p.mu.Unlock()
				}
			}
		}
	}()
	return p
}

// stop returns the peak RSS and its rise over the start, in bytes.
func (p *memoryProbe) stop() (peak, delta int64) {
	switch {
	case p.start == 0:
		return 0, 0
	case p.reset:
		peak = readStatus("VmHWM")
	default:
		close(p.done)
		p.wg.Wait()
		peak = max(p.sampled, readStatus("VmRSS"))
	}
	return peak, max(0, peak-p.start)
}

// resetPeak resets the kernel's peak RSS (VmHWM) to the current RSS.
func resetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

func canResetPeak() bool { return readStatus("VmHWM") > 0 && resetPeak() }

// readStatus reads a "kB" field of /proc/self/status in bytes (0 if absent).
func readStatus(field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
