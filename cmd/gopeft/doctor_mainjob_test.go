package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainJobCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mainjob.json")

	if c := mainJobCheck(path); c.OK || c.Required || !strings.Contains(c.Detail, "never run") {
		t.Errorf("no record: %+v, want an optional 'never run' warning", c)
	}

	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"ok": true, "seconds": 272.4, "finished": "2026-12-01T09:00:00+00:00", "results": ["test accuracy houlsby: 0.880"]}`)
	c := mainJobCheck(path)
	if !c.OK || !strings.Contains(c.Detail, "passed in 4m32s") || !strings.Contains(c.Detail, "houlsby: 0.880") {
		t.Errorf("passed record: %+v", c)
	}

	write(`{"ok": false, "seconds": 10, "error": "cell 3/8 failed: boom", "html": "/x/q.html", "finished": "2026-12-01T09:00:00+00:00"}`)
	c = mainJobCheck(path)
	if c.OK || !strings.Contains(c.Detail, "FAILED after 10s") || !strings.Contains(c.Detail, "boom") || !strings.Contains(c.Fix, "/x/q.html") {
		t.Errorf("failed record: %+v", c)
	}

	write(`{not json`)
	if c := mainJobCheck(path); c.OK || !strings.Contains(c.Detail, "unreadable") {
		t.Errorf("corrupt record: %+v", c)
	}
}
