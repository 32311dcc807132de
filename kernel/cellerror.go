package kernel

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// exitLine matches the one stream message GoNB writes to stderr after a cell
// program fails (the error text of exec.Cmd.Wait), which it otherwise reports
// as success.
var exitLine = regexp.MustCompile(`^(\^C\n)?(exit status (\d+)|signal: ([a-z ]+))\n$`)

var (
	ansiSeq = regexp.MustCompile("\x1b\\[[0-9;]*m")
	// cellLine is GoNB's annotation of a main.go position in a traceback.
	cellLine = regexp.MustCompile(`\[\[ Cell (?:\[(\d+)\] )?Line (\d+) \]\]`)
	// framePos is a traceback's position line: tab, GoNB's annotation if
	// any, file:line, the pc offset if any.
	// A fatal signal's dump (GOTRACEBACK=crash style) adds fp=, sp=, pc=.
	framePos = regexp.MustCompile(`^\t\s*(?:\[\[ Cell .*?\]\]\s*)?(\S+):(\d+)(?: \+0x[0-9a-f]+)?(?: fp=\S+ sp=\S+ pc=\S+)?\s*$`)
	// tempPath is the kernel's work dir and GoNB's module dir inside it
	// (main.go, the cell binary), meaningless to the user.
	tempPath = regexp.MustCompile(`(?:/[^\s"':]*)?/gopeft-kernel-\d+/(?:gonb_[0-9a-f]+/)?`)
)

// crashStarts are the lines the Go runtime begins a crash report with.
// "SIGSEGV: " and "SIGBUS: " begin the dump of a fatal signal in the runtime
// itself (Go 1.26's GC sometimes dies so when a heap mapping fails at the
// memory limit, instead of "fatal error: out of memory").
var crashStarts = []string{"panic: ", "fatal error: ", "SIGSEGV: ", "SIGBUS: "}

// crashAt returns where in s a line beginning a crash report starts, or -1;
// atLineStart says whether s itself begins a line.
func crashAt(s string, atLineStart bool) int {
	for i := 0; i < len(s); {
		if i > 0 || atLineStart {
			for _, p := range crashStarts {
				if strings.HasPrefix(s[i:], p) {
					return i
				}
			}
		}
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
	}
	return -1
}

// crashPrefix reports whether a line so far (no newline yet) may still become
// the start of a crash report: the runtime writes "panic: " and the value in
// separate writes, and GoNB forwards each read.
func crashPrefix(line string) bool {
	for _, p := range crashStarts {
		if line != "" && len(line) < len(p) && strings.HasPrefix(p, line) {
			return true
		}
	}
	return false
}

// cellError turns a failed cell program into the ename, evalue and traceback
// of a Jupyter error. A crash report (panic, fatal error) becomes Go's own
// traceback with the cell's frames as "Cell[n] line m", the runtime's frames
// dropped and no temp paths. GoNB annotates main.go positions with
// "[[ Cell [n] Line m ]]", but only when a position arrives in one read of the
// program's stderr; the runtime writes a traceback in small pieces, so for an
// unannotated frame the line of main.go is looked up in the cell's code.
func cellError(f cellFailure) (ename, evalue string, traceback []string) {
	m := exitLine.FindStringSubmatch(f.Exit)
	lines := strings.Split(ansiSeq.ReplaceAllString(f.Stderr, ""), "\n")
	switch {
	case m == nil:
		ename, evalue = "CellError", strings.TrimSpace(f.Exit)
	case m[1] != "" || f.Interrupted || m[4] == "interrupt":
		ename, evalue = "KeyboardInterrupt", "cell interrupted"
		if m[4] != "" {
			evalue += " (" + m[4] + ")"
		}
	case m[4] != "":
		ename, evalue = "Killed", "cell program killed by signal: "+m[4]
	default:
		ename, evalue = "ExitError", "cell program exited with status "+m[3]
	}
	crash := -1
	if ename != "KeyboardInterrupt" {
		for i, l := range lines {
			if rest, ok := strings.CutPrefix(l, "panic: "); ok {
				ename, evalue, crash = "panic", strings.TrimSuffix(rest, " [recovered]"), i
				break
			}
			if rest, ok := strings.CutPrefix(l, "fatal error: "); ok {
				ename, evalue, crash = "FatalError", rest, i
				break
			}
			if strings.HasPrefix(l, "SIGSEGV: ") || strings.HasPrefix(l, "SIGBUS: ") {
				ename, evalue, crash = "FatalError", l, i
				break
			}
		}
	}
	traceback = []string{errorHeader(ename, evalue)}
	if crash < 0 {
		return ename, evalue, traceback
	}
	sources := map[string][]string{}
	for i := crash + 1; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" {
			continue
		}
		if i+1 < len(lines) && !strings.HasPrefix(l, "\t") {
			if pm := framePos.FindStringSubmatch(lines[i+1]); pm != nil {
				i++
				if fr := frame(l, lines[i], pm[1], pm[2], f, sources); fr != "" {
					traceback = append(traceback, fr)
				}
				continue
			}
		}
		traceback = append(traceback, tempPath.ReplaceAllString(l, ""))
	}
	return ename, evalue, traceback
}

// frame renders one stack frame as Go does (function, then the tab-indented
// position), the position a cell line when it is in a cell; "" for the
// runtime's own frames.
func frame(fn, pos, file, line string, f cellFailure, sources map[string][]string) string {
	if strings.Contains(file, "/src/runtime/") {
		return ""
	}
	// Arguments are raw words (pointers, lengths): Go's "(...)" says enough.
	if j := strings.LastIndex(fn, "("); j > 0 && strings.HasSuffix(fn, ")") && j+2 < len(fn) {
		fn = fn[:j] + "(...)"
	}
	var where string
	// GoNB's annotation without a cell number is unreliable (it says "Cell
	// Line 0" for a function declared in the cell): look such a line up.
	switch cm := cellLine.FindStringSubmatch(pos); {
	case cm != nil && cm[1] != "" && cm[2] != "0":
		where = fmt.Sprintf("Cell[%s] line %s", cm[1], cm[2])
	case filepath.Base(file) == "main.go" && tempPath.MatchString(file):
		if n := cellLineOf(sources, file, line, f.Code); n > 0 {
			where = fmt.Sprintf("%s line %d", cellName(f.Count), n)
		} else {
			where = "main.go:" + line // generated code, or a line of an earlier cell
		}
	default:
		where = file + ":" + line
	}
	return fn + "\n\t" + where
}

// cellName names the cell of execution_count n ("Cell" when not stored).
func cellName(n int) string {
	if n > 0 {
		return fmt.Sprintf("Cell[%d]", n)
	}
	return "Cell"
}

// errorHeader is a traceback's first line, as Jupyter front-ends colour it.
func errorHeader(ename, evalue string) string {
	return fmt.Sprintf("\x1b[0;31m%s\x1b[0m: %s", ename, evalue)
}

// cellLineOf finds the 1-based line of the cell's code that line num of the
// generated main.go holds (GoNB copies cell lines verbatim), or 0.
func cellLineOf(sources map[string][]string, mainGo, num, code string) int {
	src, ok := sources[mainGo]
	if !ok {
		if data, err := os.ReadFile(mainGo); err == nil {
			src = strings.Split(string(data), "\n")
		}
		sources[mainGo] = src
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > len(src) {
		return 0
	}
	want := strings.TrimSpace(src[n-1])
	if want == "" {
		return 0
	}
	for i, l := range strings.Split(code, "\n") {
		if strings.TrimSpace(l) == want {
			return i + 1
		}
	}
	return 0
}

// GoNB's HTML report of a failed build (go build, goimports or its own
// parse): per compiler message, the cell and line, the main.go position, the
// message, and the source around it with the offending line marked.
var (
	reportCell = regexp.MustCompile(`<span class="gonb-cell-line-info">Cell(?:\[(\d+)\])?:? Line (\d+)</span>`)
	reportLoc  = regexp.MustCompile(`<span class="gonb-err-location">([^<]*)</span>([^\n]*)`)
	reportSrc  = regexp.MustCompile(`<div class="gonb-err-line">([^\n]*)\n</div>`)
	reportText = regexp.MustCompile(`<span style="white-space: pre;">([^<]*)</span>`)
	goPos      = regexp.MustCompile(`^(\S*?):(\d+)(?::(\d+))?:?$`)
)

// compileReport reads GoNB's HTML report of a failed build into one entry
// per compiler message, "Cell[3] line 2: undefined: x" with the offending
// source line beneath it; nil when s is not such a report.
func compileReport(s string) []string {
	// The report's style sheet names this class even when no message has
	// a position.
	if !strings.Contains(s, "gonb-err-location") {
		return nil
	}
	if i := strings.Index(s, "</style>"); i >= 0 {
		s = s[i:]
	}
	var entries []string
	for _, item := range strings.Split(s, "<br/>") {
		if lm := reportLoc.FindStringSubmatch(item); lm != nil {
			where := strings.TrimSpace(tempPath.ReplaceAllString(lm[1], ""))
			if cm := reportCell.FindStringSubmatch(item); cm != nil {
				where = cellName(atoi(cm[1])) + " line " + cm[2]
			} else if pm := goPos.FindStringSubmatch(where); pm != nil {
				where = filepath.Base(pm[1]) + ":" + pm[2]
			}
			e := where + ": " + strings.TrimSpace(lm[2])
			if sm := reportSrc.FindStringSubmatch(item); sm != nil && strings.TrimSpace(sm[1]) != "" {
				e += "\n\t" + strings.TrimSpace(html.UnescapeString(sm[1]))
			}
			entries = append(entries, e)
		} else if tm := reportText.FindStringSubmatch(item); tm != nil {
			t := strings.TrimSpace(tempPath.ReplaceAllString(tm[1], ""))
			// "# gonb_1234abcd" is go build naming the package.
			if t != "" && !strings.HasPrefix(t, "# ") {
				entries = append(entries, t)
			}
		}
	}
	return entries
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// compileError is the error for a cell that does not build, from the
// entries of compileReport: every message in evalue (one a line, without the
// source), and each with its source line in the traceback.
func compileError(entries []string) (ename, evalue string, traceback []string) {
	var msgs []string
	for _, e := range entries {
		msgs = append(msgs, strings.SplitN(e, "\n", 2)[0])
	}
	evalue = strings.Join(msgs, "\n")
	return "CompileError", evalue, append([]string{errorHeader("CompileError", "the cell does not build")}, entries...)
}

// withoutTempPaths strips the kernel's temp paths from an error GoNB made
// itself (one without a compile report).
func withoutTempPaths(c map[string]any) {
	if v, ok := c["evalue"].(string); ok {
		c["evalue"] = tempPath.ReplaceAllString(v, "")
	}
	if tb, ok := c["traceback"].([]any); ok {
		for i, t := range tb {
			if s, ok := t.(string); ok {
				tb[i] = tempPath.ReplaceAllString(s, "")
			}
		}
	}
}
