// Package disktest gives tests a small or read-only disk: a tmpfs mounted
// for the test, so that "no space left on device" and "read-only file
// system" come from the kernel itself rather than from a fake.
package disktest

import (
	"os"
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs of size (as mount(8) takes it: "64k") on a fresh
// directory, read-only if readOnly, and unmounts it when the test ends. It
// skips the test where mounting is not allowed (not root, no tmpfs).
func Mount(t *testing.T, size string, readOnly bool) string {
	t.Helper()
	dir := t.TempDir()
	opts := "size=" + size
	if readOnly {
		opts += ",ro"
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file of zeros until the disk at dir is full.
func Fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(dir + "/filler")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}
