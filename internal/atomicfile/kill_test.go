package atomicfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// payload is version v's file of n bytes: v, filler derived from v, and a
// SHA-256 of both, so a torn or mixed file is told from a whole one.
func payload(v uint64, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, v)
	for i := 8; i < n-32; i++ {
		b[i] = byte(v*31 + uint64(i))
	}
	sum := sha256.Sum256(b[:n-32])
	copy(b[n-32:], sum[:])
	return b
}

// version reads a payload's version, failing on a damaged one.
func version(b []byte) (uint64, error) {
	if len(b) < 40 {
		return 0, fmt.Errorf("%d bytes: torn", len(b))
	}
	sum := sha256.Sum256(b[:len(b)-32])
	if !bytes.Equal(sum[:], b[len(b)-32:]) {
		return 0, fmt.Errorf("checksum mismatch: torn or mixed")
	}
	return binary.LittleEndian.Uint64(b), nil
}

const killSize = 256 << 10

// writeVersion writes version v of the file and of the directory (two
// files that must agree).
func writeVersion(root string, v uint64) error {
	if err := WriteFile(filepath.Join(root, "adapter.safetensors"), payload(v, killSize), 0o644); err != nil {
		return err
	}
	return ReplaceDir(filepath.Join(root, "run"), func(tmp string) error {
		if err := WriteFile(filepath.Join(tmp, "weights.bin"), payload(v, killSize), 0o644); err != nil {
			return err
		}
		return WriteFile(filepath.Join(tmp, "run.json"), []byte(strconv.FormatUint(v, 10)), 0o644)
	})
}

// readVersions loads what a reader would: the file's version and the
// directory's, failing if either is missing, torn or inconsistent.
func readVersions(root string) (file, dir uint64, err error) {
	b, err := os.ReadFile(filepath.Join(root, "adapter.safetensors"))
	if err != nil {
		return 0, 0, err
	}
	if file, err = version(b); err != nil {
		return 0, 0, fmt.Errorf("file: %w", err)
	}
	w, err := os.ReadFile(filepath.Join(root, "run", "weights.bin"))
	if err != nil {
		return 0, 0, err
	}
	if dir, err = version(w); err != nil {
		return 0, 0, fmt.Errorf("run dir: %w", err)
	}
	js, err := os.ReadFile(filepath.Join(root, "run", "run.json"))
	if err != nil {
		return 0, 0, err
	}
	if string(js) != strconv.FormatUint(dir, 10) {
		return 0, 0, fmt.Errorf("run dir mixes versions: run.json %s, weights %d", js, dir)
	}
	return file, dir, nil
}

// TestKillWriterHelper is the writer the kill test runs in a subprocess:
// it writes newer versions until it is killed.
func TestKillWriterHelper(t *testing.T) {
	root := os.Getenv("ATOMICFILE_KILL_ROOT")
	if root == "" {
		t.Skip("run by TestKilledWriterLeavesPreviousVersion")
	}
	_, v, err := readVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	for v++; ; v++ {
		if err := writeVersion(root, v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKilledWriterLeavesPreviousVersion kills a writer of a file and a
// directory with SIGKILL at random points: after each kill both still load,
// whole, at a version no older than before.
func TestKilledWriterLeavesPreviousVersion(t *testing.T) {
	root := t.TempDir()
	if err := writeVersion(root, 0); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const rounds = 40
	var lastFile, lastDir uint64
	advanced := 0
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillWriterHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ATOMICFILE_KILL_ROOT="+root)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+rng.IntN(60)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: the writer ended before it was killed: %v", round, err)
		}
		file, dir, err := readVersions(root)
		if err != nil {
			t.Fatalf("round %d: after SIGKILL the previous version does not load: %v", round, err)
		}
		if file < lastFile || dir < lastDir {
			t.Fatalf("round %d: versions went back: file %d -> %d, dir %d -> %d", round, lastFile, file, lastDir, dir)
		}
		if dir > lastDir {
			advanced++
		}
		lastFile, lastDir = file, dir
	}
	// The kills must land while writing, not only before the first write.
	if advanced < rounds/4 {
		t.Errorf("only %d of %d rounds wrote a new version: the kills came too early to test anything", advanced, rounds)
	}
	var left []string
	es, _ := os.ReadDir(root)
	for _, e := range es {
		if strings.Contains(e.Name(), ".tmp") {
			left = append(left, e.Name())
		}
	}
	t.Logf("%d rounds, %d wrote a newer version (file v%d, dir v%d); %d temporary entries left by killed writers", rounds, advanced, lastFile, lastDir, len(left))
}

// TestReplaceDirSweepsStaleTemps: what killed writers left beside a
// directory is removed by the next ReplaceDir once it is old; a fresh one
// (perhaps a live writer's) is kept.
func TestReplaceDirSweepsStaleTemps(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "run")
	stale, fresh := filepath.Join(root, ".run.tmp-111"), filepath.Join(root, ".run.tmp-222")
	for _, d := range []string{stale, fresh} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * StaleAfter)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceDir(dir, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp dir kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp dir removed: %v", err)
	}
}
