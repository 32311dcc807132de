package kernel

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// exitLine matches the one stream message GoNB writes to stderr after a cell
// program fails (the error text of exec.Cmd.Wait), which it otherwise reports
// as success.
var exitLine = regexp.MustCompile(`^(\^C\n)?(exit status (\d+)|signal: ([a-z ]+))\n$`)

var (
	ansiSeq  = regexp.MustCompile("\x1b\\[[0-9;]*m")
	cellLine = regexp.MustCompile(`\[\[ Cell (?:\[(\d+)\] )?Line (\d+) \]\]`)
	// mainPos is a stack frame's position in the program GoNB generated.
	mainPos = regexp.MustCompile(`(/\S+/main\.go):(\d+)`)
)

// cellError turns a failed cell program's exit line and its stderr into the
// ename, evalue and traceback of a Jupyter error, with stack frames mapped to
// the cell's lines. GoNB annotates main.go positions with "[[ Cell [n] Line m ]]",
// but only when a position arrives in one read of the program's stderr; the
// runtime writes a traceback in small pieces, so for unannotated frames the
// line of main.go is looked up in the cell's code instead.
func cellError(exit, stderr, code string, interrupted bool) (ename, evalue string, traceback []string) {
	m := exitLine.FindStringSubmatch(exit)
	stderr = ansiSeq.ReplaceAllString(stderr, "")
	lines := strings.Split(stderr, "\n")
	switch {
	case m == nil:
		ename, evalue = "CellError", strings.TrimSpace(exit)
	case m[1] != "" || interrupted || m[4] == "interrupt":
		ename, evalue = "KeyboardInterrupt", "cell interrupted"
		if m[4] != "" {
			evalue += " (" + m[4] + ")"
		}
	case m[4] != "":
		ename, evalue = "Killed", "cell program killed by signal: "+m[4]
	default:
		ename, evalue = "ExitError", "cell program exited with status "+m[3]
	}
	// A panic or fatal runtime error names the real cause.
	for _, l := range lines {
		if ename == "KeyboardInterrupt" {
			break
		}
		if rest, ok := strings.CutPrefix(l, "panic: "); ok {
			ename, evalue = "panic", strings.TrimSuffix(rest, " [recovered]")
			break
		}
		if rest, ok := strings.CutPrefix(l, "fatal error: "); ok {
			ename, evalue = "FatalError", rest
			break
		}
	}
	traceback = append(traceback, errorHeader(ename, evalue))
	// Frames come as a function line followed by a tab-indented position line.
	sources := map[string][]string{}
	for i := 1; i < len(lines); i++ {
		fn := strings.TrimSpace(lines[i-1])
		if j := strings.LastIndex(fn, "("); j > 0 {
			fn = fn[:j]
		}
		if cm := cellLine.FindStringSubmatch(lines[i]); cm != nil {
			where := "Cell line " + cm[2]
			if cm[1] != "" {
				where = fmt.Sprintf("Cell [%s], line %s", cm[1], cm[2])
			}
			traceback = append(traceback, fmt.Sprintf("  %s, in %s", where, fn))
		} else if pm := mainPos.FindStringSubmatch(lines[i]); pm != nil && strings.HasPrefix(lines[i], "\t") {
			if n := cellLineOf(sources, pm[1], pm[2], code); n > 0 {
				traceback = append(traceback, fmt.Sprintf("  Cell line %d, in %s", n, fn))
			}
		}
	}
	if m != nil {
		traceback = append(traceback, strings.TrimSpace(strings.TrimPrefix(exit, "^C\n")))
	}
	return ename, evalue, traceback
}

// explainFailure is the cell queue's explain: cellError on a cellFailure.
func explainFailure(f cellFailure) (string, string, []string) {
	return cellError(f.Exit, f.Stderr, f.Code, f.Interrupted)
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
