package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	for _, s := range []string{"one", "two"} {
		if err := WriteFile(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != s {
			t.Fatalf("read %q, %v; want %q", got, err, s)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("%d entries left in the directory, want 1", len(es))
	}
}

func TestReplaceDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "run")
	write := func(content string) func(string) error {
		return func(tmp string) error { return WriteFile(filepath.Join(tmp, "f"), []byte(content), 0o644) }
	}
	if err := ReplaceDir(dir, write("old")); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceDir(dir, write("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "new" {
		t.Errorf("after replacing: %q, want new", got)
	}
	boom := errors.New("boom")
	if err := ReplaceDir(dir, func(string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "new" {
		t.Errorf("a failed fill changed the directory: %q", got)
	}
	if es, _ := os.ReadDir(parent); len(es) != 1 {
		t.Errorf("%d entries in the parent, want only the run", len(es))
	}
}
