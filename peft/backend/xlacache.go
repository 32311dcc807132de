package backend

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/gopeft/gopeft/internal/atomicfile"
)

// Every notebook cell is a fresh process, and XLA compiles a BERT-base
// training step on the GPU for 14-22 s (BENCHMARKS.md, start-up), so a
// re-run cell would pay that again. The executable cache keeps each
// compiled executable on disk, keyed by everything that decides it, and
// loads it instead of compiling when the same program comes again: JAX's
// persistent compilation cache, done at the PJRT C API's level because
// go-xla v0.1.4 exposes neither PJRT_Executable_Serialize nor
// PJRT_Executable_DeserializeAndLoad. It hooks the plugin's compile entry
// (xlacache_cgo.go), so GoMLX and go-xla need no change.

// EnvXLACache names the executable cache's directory; "off" disables it.
// Unset: $XDG_CACHE_HOME/gopeft/xla (~/.cache/gopeft/xla).
const EnvXLACache = "GOPEFT_XLA_CACHE"

// EnvXLACacheMaxMB caps the cache's size in MiB (default 4096); the least
// recently used executables go first.
const EnvXLACacheMaxMB = "GOPEFT_XLA_CACHE_MAX_MB"

// cacheFormat changes when what a key covers changes.
const cacheFormat = "gopeft-xla-executable-cache 1"

// execCache is the process's cache: one plugin, one directory.
var execCache struct {
	once     sync.Once
	dir      string
	salt     []byte
	maxBytes int64
	err      error // why the cache is off, when it is

	hits, misses, failures atomic.Int64
	warnOnce               sync.Once
	pruneMu                sync.Mutex
}

// CacheStats says how the executable cache did in this process.
type CacheStats struct {
	Dir          string // "" when off
	Hits, Misses int64  // executables loaded, compiled (and stored)
	Failures     int64  // loads or stores that failed (compiled instead)
	Off          string // why the cache is off; "" when on
}

// ExecutableCacheStats reports the executable cache of this process.
func ExecutableCacheStats() CacheStats {
	s := CacheStats{Hits: execCache.hits.Load(), Misses: execCache.misses.Load(), Failures: execCache.failures.Load()}
	if execCache.err != nil {
		s.Off = execCache.err.Error()
	} else {
		s.Dir = execCache.dir
	}
	return s
}

// cacheDir resolves EnvXLACache; "" means off.
func cacheDir(getenv func(string) string) string {
	switch d := strings.TrimSpace(getenv(EnvXLACache)); {
	case strings.EqualFold(d, "off") || d == "0" || strings.EqualFold(d, "false"):
		return ""
	case d != "":
		return d
	}
	base := getenv("XDG_CACHE_HOME")
	if base == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "gopeft", "xla")
}

// cacheSalt is what decides an executable besides its program and compile
// options: the plugin (path, size, modification time), the device, and the
// XLA flags (they change the compiled code).
func cacheSalt(backendDescription, deviceDescription, plugin, xlaFlags string) []byte {
	h := sha256.New()
	fields := []string{cacheFormat, backendDescription, deviceDescription, xlaFlags}
	if st, err := os.Stat(plugin); err == nil {
		fields = append(fields, fmt.Sprintf("%s %d %d", plugin, st.Size(), st.ModTime().UnixNano()))
	}
	for _, f := range fields {
		writeField(h, []byte(f))
	}
	return h.Sum(nil)
}

// writeField hashes b behind its length, so that no two field lists hash
// alike by moving bytes across a boundary.
func writeField(h io.Writer, b []byte) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// nvidiaModels lists the "Model:" lines of the NVIDIA driver's per-GPU
// information files under dir, sorted; "" where the driver exposes none.
func nvidiaModels(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "information"))
	var models []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if m, ok := strings.CutPrefix(line, "Model:"); ok {
				models = append(models, strings.TrimSpace(m))
			}
		}
	}
	sort.Strings(models)
	return strings.Join(models, ", ")
}

// cacheKey names the executable of one compile call.
func cacheKey(salt []byte, format string, code, options []byte) string {
	h := sha256.New()
	h.Write(salt)
	for _, b := range [][]byte{[]byte(format), code, options} {
		writeField(h, b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func cachePath(dir, key string) string { return filepath.Join(dir, key+".pjrt") }

// enableExecutableCache turns the cache on for the XLA backend b (created
// from plugin); other backends are left alone. A cache that cannot work
// (no directory, a plugin without serialisation) stays off silently:
// compiling is always correct.
func enableExecutableCache(b backends.Backend, plugin string) {
	if b == nil || !strings.HasPrefix(b.Name(), "xla") {
		return
	}
	execCache.once.Do(func() {
		dir := cacheDir(os.Getenv)
		if dir == "" {
			execCache.err = fmt.Errorf("%s=off", EnvXLACache)
			return
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			execCache.err = fmt.Errorf("executable cache %s: %w", dir, err)
			return
		}
		execCache.maxBytes = 4096 << 20
		if v := os.Getenv(EnvXLACacheMaxMB); v != "" {
			var mb int64
			if _, err := fmt.Sscan(v, &mb); err == nil && mb > 0 {
				execCache.maxBytes = mb << 20
			}
		}
		execCache.dir = dir
		// PJRT's device description names the device, not its model, so
		// the driver's list of GPU models goes in too: a home directory
		// shared by machines with different GPUs must not mix their code.
		device := b.DeviceDescription(0) + "\n" + nvidiaModels("/proc/driver/nvidia/gpus")
		execCache.salt = cacheSalt(b.Description(), device, plugin, os.Getenv("XLA_FLAGS"))
		execCache.err = installCompileHook()
	})
}

// warnCache reports the first failed load or store on stderr: the step
// still runs (it compiles), but a cache that never works should be seen.
func warnCache(what string, err error) {
	execCache.failures.Add(1)
	execCache.warnOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "gopeft: XLA executable cache (%s): %s: %v; compiling instead (set %s=off to stop trying)\n",
			execCache.dir, what, err, EnvXLACache)
	})
}

// storeExecutable writes one executable whole (atomicfile) and keeps the
// directory under its size cap.
func storeExecutable(path string, data []byte) {
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		warnCache("storing", err)
		return
	}
	pruneCache(execCache.dir, execCache.maxBytes, path)
}

// cacheFile is one stored executable.
type cacheFile struct {
	path string
	size int64
	used time.Time // modification time: a load touches it
}

// cacheFiles lists the executables in dir, least recently used first.
func cacheFiles(dir string) []cacheFile {
	entries, _ := os.ReadDir(dir)
	var files []cacheFile
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pjrt") {
			continue
		}
		if info, err := e.Info(); err == nil {
			files = append(files, cacheFile{filepath.Join(dir, e.Name()), info.Size(), info.ModTime()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].used.Before(files[j].used) })
	return files
}

// pruneCache removes the least recently used executables until the
// directory holds at most maxBytes; keep survives.
func pruneCache(dir string, maxBytes int64, keep string) {
	execCache.pruneMu.Lock()
	defer execCache.pruneMu.Unlock()
	files := cacheFiles(dir)
	var total int64
	for _, f := range files {
		total += f.size
	}
	for _, f := range files {
		if total <= maxBytes {
			break
		}
		if f.path == keep {
			continue
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}

// touch marks an executable as recently used for pruneCache.
func touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// ExecutableCacheUsage says where the executable cache would live for this
// environment and what it holds: "" when EnvXLACache turns it off.
func ExecutableCacheUsage() (dir string, executables int, bytes int64) {
	dir = cacheDir(os.Getenv)
	if dir == "" {
		return "", 0, 0
	}
	for _, f := range cacheFiles(dir) {
		executables++
		bytes += f.size
	}
	return dir, executables, bytes
}
