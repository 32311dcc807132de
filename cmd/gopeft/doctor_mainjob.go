package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// mainJobRecord is what scripts/run_notebook.py writes after install.sh's
// main job (the quickstart, headless).
type mainJobRecord struct {
	Notebook string   `json:"notebook"`
	OK       bool     `json:"ok"`
	Error    string   `json:"error"`
	Seconds  float64  `json:"seconds"`
	Finished string   `json:"finished"`
	Quick    bool     `json:"quick"`
	Results  []string `json:"results"`
	HTML     string   `json:"html"`
}

// mainJobPath is where the record lives: ${XDG_CACHE_HOME:-~/.cache}/gopeft/mainjob.json,
// as in run_notebook.py.
func mainJobPath() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir() // no HOME: no record can have been written where doctor would look
	}
	return filepath.Join(base, "gopeft", "mainjob.json")
}

// mainJobCheck reports the main job's last run. Optional: a machine set up
// with --no-run has never run it, and that is not a fault.
func mainJobCheck(path string) check {
	c := check{Name: "main job", Fix: "./install.sh (runs the quickstart headless with live progress)"}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		c.Detail = "never run on this machine (install.sh --no-run skips it)"
		return c
	}
	var rec mainJobRecord
	if err == nil {
		err = json.Unmarshal(raw, &rec)
	}
	if err != nil {
		c.Detail = fmt.Sprintf("unreadable record %s: %v", path, err)
		return c
	}
	when := rec.Finished
	if t, err := time.Parse(time.RFC3339, rec.Finished); err == nil {
		when = t.Local().Format("2006-01-02 15:04")
	}
	took := time.Duration(rec.Seconds * float64(time.Second)).Round(time.Second)
	mode := ""
	if rec.Quick {
		mode = " (quick mode)"
	}
	if !rec.OK {
		c.Detail = fmt.Sprintf("last run %s FAILED after %s%s: %s", when, took, mode, rec.Error)
		c.Fix = "see the executed notebook " + rec.HTML + ", fix, then ./install.sh"
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("last run %s passed in %s%s", when, took, mode)
	for _, r := range rec.Results {
		c.Detail += "; " + r
	}
	return c
}
