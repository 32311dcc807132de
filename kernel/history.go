package kernel

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// historyEntry is one executed cell.
type historyEntry struct {
	Session int    `json:"session"`
	Line    int    `json:"line"`
	Input   string `json:"input"`
	Output  string `json:"output,omitempty"`
}

// history keeps executed cells for history_request. When path is set, entries
// are appended to it (one JSON object a line) and earlier sessions are loaded,
// so `jupyter console` can recall cells across kernel restarts.
type history struct {
	mu      sync.Mutex
	path    string
	session int
	entries []historyEntry
}

// defaultHistoryPath is $GOPEFT_HISTORY_FILE if set ("" or "off" disables),
// else $XDG_DATA_HOME/gopeft/kernel_history.jsonl.
func defaultHistoryPath() string {
	if p, ok := os.LookupEnv("GOPEFT_HISTORY_FILE"); ok {
		if p == "off" {
			return ""
		}
		return p
	}
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "gopeft", "kernel_history.jsonl")
}

func newHistory(path string) *history {
	h := &history{path: path, session: 1}
	if path == "" {
		return h
	}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e historyEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				h.entries = append(h.entries, e)
				if e.Session >= h.session {
					h.session = e.Session + 1
				}
			}
		}
		f.Close()
	}
	return h
}

func (h *history) add(line int, input string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := historyEntry{Session: h.session, Line: line, Input: input}
	h.entries = append(h.entries, e)
	if h.path == "" {
		return
	}
	// Appends are whole lines written with O_APPEND, so concurrent kernels do
	// not interleave entries.
	// Cells can hold tokens and paths: the history is the user's alone.
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return
	}
	f, err := os.OpenFile(h.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	data, _ := json.Marshal(e)
	_, _ = f.Write(append(data, '\n'))
	_ = f.Close()
}

// setOutput records the text output of a cell for output=True requests.
func (h *history) setOutput(line int, output string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.entries) - 1; i >= 0; i-- {
		if h.entries[i].Session == h.session && h.entries[i].Line == line {
			h.entries[i].Output = output
			return
		}
	}
}

// query answers a history_request's content.
func (h *history) query(c map[string]any) []any {
	h.mu.Lock()
	defer h.mu.Unlock()
	num := func(k string, def int) int {
		if v, ok := c[k].(float64); ok {
			return int(v)
		}
		return def
	}
	output, _ := c["output"].(bool)
	item := func(e historyEntry) any {
		if output {
			return []any{e.Session, e.Line, []any{e.Input, e.Output}}
		}
		return []any{e.Session, e.Line, e.Input}
	}
	var sel []historyEntry
	switch c["hist_access_type"] {
	case "tail":
		n := num("n", 10)
		sel = h.entries
		if n >= 0 && len(sel) > n {
			sel = sel[len(sel)-n:]
		}
	case "range":
		session := num("session", 0)
		if session <= 0 {
			session = h.session + session // relative: 0 is the current session
		}
		start, stop := num("start", 0), num("stop", 1<<30)
		for _, e := range h.entries {
			if e.Session == session && e.Line >= start && e.Line < stop {
				sel = append(sel, e)
			}
		}
	case "search":
		pattern, _ := c["pattern"].(string)
		unique, _ := c["unique"].(bool)
		re := globRegexp(pattern)
		seen := map[string]bool{}
		// Newest first for uniqueness, then restored to chronological order.
		for i := len(h.entries) - 1; i >= 0; i-- {
			e := h.entries[i]
			if !re.MatchString(e.Input) {
				continue
			}
			if unique {
				if seen[e.Input] {
					continue
				}
				seen[e.Input] = true
			}
			sel = append([]historyEntry{e}, sel...)
		}
		if n := num("n", -1); n >= 0 && len(sel) > n {
			sel = sel[len(sel)-n:]
		}
	}
	out := make([]any, 0, len(sel))
	for _, e := range sel {
		out = append(out, item(e))
	}
	return out
}

// globRegexp turns a history search pattern (glob: * and ?) into a regexp.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
