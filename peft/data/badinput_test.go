package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/internal/disktest"
)

// TestBadDataErrors: empty or malformed datasets and a cache that cannot be
// written are refused with an error naming the problem and the fix.
func TestBadDataErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name, path string
		want       []string // the problem, then the fix
	}{
		{"empty csv", file("empty.csv", "text,label\n"), []string{"has no examples", "add one line per example"}},
		{"empty jsonl", file("empty.jsonl", ""), []string{"has no examples", "add one line per example"}},
		{"no header", file("bad.csv", "hello,1\n"), []string{`header row "hello,1"`, "must name the columns text and label"}},
		{"short row", file("short.csv", "text,label\nonly text\n"), []string{"row 2 has 1 fields", "it needs text and label"}},
		{"jsonl without label", file("nolabel.jsonl", `{"text":"a"}`+"\n"), []string{"line 1", `needs "text" and "label"`}},
		{"unknown type", file("data.txt", "x"), []string{"unknown file type", "use .csv"}},
		{"missing file", filepath.Join(dir, "nope.csv"), []string{"no such file"}},
	} {
		_, err := LoadFile(c.path, Options{})
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
	if _, err := Load("nope", Options{}); err == nil || !strings.Contains(err.Error(), `unknown task "nope"`) || !strings.Contains(err.Error(), "built-in tasks: spam") {
		t.Errorf("unknown task: %v", err)
	}

	// An unwritable cache: its parent is a file, or the disk is read-only.
	notDir := file("file", "")
	_, err := Fetch(FetchOptions{Dir: filepath.Join(notDir, "cache"), Force: true})
	if err == nil || !strings.Contains(err.Error(), "cannot create cache dir") || !strings.Contains(err.Error(), "set GOPEFT_DATA to a writable directory") {
		t.Errorf("cache under a file: %v", err)
	}
	t.Run("read-only disk", func(t *testing.T) {
		ro := disktest.Mount(t, "1m", true)
		_, err := Fetch(FetchOptions{Dir: ro, Force: true})
		if err == nil || !strings.Contains(err.Error(), "read-only file system") || !strings.Contains(err.Error(), "set GOPEFT_DATA to a writable directory") {
			t.Errorf("read-only cache: %v", err)
		}
	})
}
