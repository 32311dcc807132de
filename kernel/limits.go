package kernel

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Defaults for the per-cell limits; the README documents them.
const (
	// defaultOutputLimit is how much stdout+stderr text one cell sends to
	// the notebook; the rest is dropped with a notice. A notebook holding
	// 100 MB of text no longer opens in a browser.
	defaultOutputLimit = 2 << 20
	// minMemoryLimit keeps a mistyped GOPEFT_CELL_MEMORY from making go
	// build itself fail.
	minMemoryLimit = 256 << 20
)

// parseSize reads "2GiB", "512M", "1.5G", "300000000": binary units, an
// optional "B"/"iB". "off", "0" and "none" mean no limit (0).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "off", "none", "0", "unlimited":
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (like 2GiB, 512MiB or off)", s)
	}
	return int64(v * mult), nil
}

// formatSize writes n bytes the way parseSize reads them.
func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// OutputLimit is the most stream text a cell sends to the client
// (GOPEFT_CELL_OUTPUT_LIMIT; 0 = unlimited).
func OutputLimit() (int64, error) {
	v := os.Getenv("GOPEFT_CELL_OUTPUT_LIMIT")
	if v == "" {
		return defaultOutputLimit, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, fmt.Errorf("GOPEFT_CELL_OUTPUT_LIMIT: %w", err)
	}
	return n, nil
}

// MemoryLimit is the data-segment limit (RLIMIT_DATA: the heap and every
// private writable mapping) of each process the engine starts: GoNB, go
// build, gopls and, what it is for, the cell programs. GOPEFT_CELL_MEMORY
// sets it; by default it is 3/4 of the machine's memory or of the cgroup's
// limit (a JupyterHub spawner's), whichever is less, so a runaway cell fails
// with "out of memory" in its own process before the OOM killer picks the
// kernel, the notebook server or a classmate's kernel. 0 = unlimited.
func MemoryLimit() (int64, error) {
	if v := os.Getenv("GOPEFT_CELL_MEMORY"); v != "" {
		n, err := parseSize(v)
		if err != nil {
			return 0, fmt.Errorf("GOPEFT_CELL_MEMORY: %w", err)
		}
		if n != 0 && n < minMemoryLimit {
			return 0, fmt.Errorf("GOPEFT_CELL_MEMORY=%s is below %s, too little for go build", v, formatSize(minMemoryLimit))
		}
		return n, nil
	}
	total := physicalMemory()
	if cg := cgroupMemoryMax(); cg > 0 && (total == 0 || cg < total) {
		total = cg
	}
	return total / 4 * 3, nil
}

func physicalMemory() int64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// cgroupMemoryMax reads the memory limit of this process's cgroup (v2, then
// v1); 0 when there is none.
func cgroupMemoryMax() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err == nil && n > 0 && n < 1<<60 {
			return n
		}
	}
	return 0
}

// rlimitMu serialises startWithDataLimit: the limit is set on this process
// for the instant of the fork.
var rlimitMu sync.Mutex

// startWithDataLimit runs start with this process's soft RLIMIT_DATA lowered
// to limit, so the child (and all it starts) inherits it from the fork on:
// os/exec has no per-child rlimit, and setting it after the start would race
// with GoNB's first children. The kernel itself uses a few tens of MB, far
// below any limit MemoryLimit accepts.
func startWithDataLimit(limit int64, start func() error) error {
	if limit <= 0 {
		return start()
	}
	rlimitMu.Lock()
	defer rlimitMu.Unlock()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_DATA, &old); err != nil {
		return start()
	}
	lim := old
	if uint64(limit) < lim.Cur {
		lim.Cur = uint64(limit)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &lim); err != nil {
		return start()
	}
	defer syscall.Setrlimit(syscall.RLIMIT_DATA, &old)
	return start()
}
