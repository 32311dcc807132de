// Package atomicfile writes files and directories so that a reader (or a
// crash) never sees them half-written: everything goes to a temporary
// sibling, is synced to disk, and is renamed into place; the parent
// directory is synced too, so the rename itself survives a power loss.
//
//	if err := atomicfile.WriteFile("run/run.json", js, 0o644); err != nil { ... }
//	err := atomicfile.ReplaceDir("runs/houlsby", func(tmp string) error {
//		return atomicfile.WriteFile(filepath.Join(tmp, "run.json"), js, 0o644)
//	})
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// explain adds the fix to the errors a full or read-only disk gives, which
// the system words only as "no space left on device" and the like.
func explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: the disk is full; free some space there or write somewhere else", err)
	case errors.Is(err, syscall.EROFS), errors.Is(err, os.ErrPermission), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: this place is not writable; write somewhere you can", err)
	}
	return err
}

// CheckWritable tells, before long work, whether files can be created
// beside path (in its parent directory, created if missing): the error a
// later write would give, with its fix.
func CheckWritable(path string) error {
	dir := filepath.Dir(filepath.Clean(path))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return explain(err)
	}
	f, err := os.CreateTemp(dir, ".writable-*")
	if err != nil {
		return explain(err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// WriteFile writes data to path with permissions perm: a temporary file in
// the same directory, fsynced, renamed over path, then the directory fsynced.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, explain(err))
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, explain(err))
	}
	return SyncDir(dir)
}

// ReplaceDir builds a directory with fill, in a temporary sibling of dir,
// and renames it over dir: on Linux an older dir is swapped out in one step
// (renameat2 RENAME_EXCHANGE) and removed after; elsewhere, or on file
// systems without the swap, it is moved aside first. On an error from fill
// nothing at dir changes. Files that fill writes should go through
// WriteFile, so that their contents are synced.
func ReplaceDir(dir string, fill func(tmp string) error) error {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return explain(err)
	}
	sweepStale(parent, "."+filepath.Base(dir)+".tmp-")
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return explain(err)
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := SyncDir(tmp); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		// Swap the two in one step where the system can (Linux): tmp then
		// holds the old directory, removed by the deferred RemoveAll.
		if exchange(tmp, dir) == nil {
			return SyncDir(parent)
		}
		// rename(2) cannot replace a non-empty directory: move it aside.
		// (A crash between the two renames leaves the old version at
		// .<name>.tmp-*.old and nothing at dir.)
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replacing %s: %w", dir, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("replacing %s: %w", dir, err)
	}
	return SyncDir(parent)
}

// StaleAfter is how old a temporary sibling must be before ReplaceDir takes
// it for the leftover of a killed writer and removes it; a live writer
// renames its own within seconds of filling it.
const StaleAfter = time.Hour

// sweepStale removes prefix* entries in dir older than StaleAfter.
func sweepStale(dir, prefix string) {
	matches, _ := filepath.Glob(filepath.Join(dir, prefix) + "*")
	for _, m := range matches {
		if fi, err := os.Lstat(m); err == nil && time.Since(fi.ModTime()) > StaleAfter {
			os.RemoveAll(m)
		}
	}
}

// SyncDir fsyncs a directory, which persists the names created, renamed or
// removed in it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
