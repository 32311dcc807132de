// Command nbrun runs a GoNB notebook without Jupyter and without a Go
// toolchain on the machine that executes it.
//
//	go run ./scripts/nbrun build NOTEBOOK.ipynb OUTDIR
//	OUTDIR/nbrun run OUTDIR [EXECUTED.ipynb] [--root DIR] [-v]
//
// build composes the programs GoNB would run for the notebook's code cells
// (declarations before a "%%" line accumulate across cells; the text after it
// is the body of func main) into ONE program, one function per cell body with
// all declarations shared, and compiles it (cgo on, stripped) to OUTDIR/cells.
// A single binary instead of one per cell keeps what has to be carried small:
// each binary links GoMLX and its XLA backend. The composition is equivalent to
// GoNB's per-cell programs as long as no cell redefines an earlier cell's
// name; build fails if one does. It also builds the runner itself (cgo off) to
// OUTDIR/nbrun and writes OUTDIR/notebook.ipynb, OUTDIR/cells.json and the
// generated source OUTDIR/main.go.
//
// run executes the cells in order, each as `cells` with NBRUN_CELL set to its
// index, playing GoNB's part on the named pipes of gonbui (display data,
// Sync acknowledgements, display-id updates), and writes an executed
// notebook (nbformat 4, outputs and execution counts filled) after each cell.
// A cell that exits non-zero gets an error output and stops the run, like
// Jupyter's Run All.
package main

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// cellEnv selects the cell body the composed program runs.
const cellEnv = "NBRUN_CELL"

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  nbrun build NOTEBOOK.ipynb OUTDIR
  nbrun run OUTDIR [EXECUTED.ipynb] [--root DIR] [-v]
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		if len(os.Args) != 4 {
			usage()
		}
		err = build(os.Args[2], os.Args[3])
	case "run":
		err = runCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbrun:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- notebook

// notebook is kept as generic JSON so that run writes back every field it
// does not fill in.
type notebook map[string]any

func readNotebook(path string) (notebook, []map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var nb notebook
	if err := json.Unmarshal(raw, &nb); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	list, _ := nb["cells"].([]any)
	cells := make([]map[string]any, len(list))
	for i, c := range list {
		m, ok := c.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%s: cell %d is not an object", path, i)
		}
		cells[i] = m
	}
	return nb, cells, nil
}

// sourceText joins a cell's source (a string or a list of lines).
func sourceText(cell map[string]any) string {
	switch s := cell["source"].(type) {
	case string:
		return s
	case []any:
		var sb strings.Builder
		for _, l := range s {
			str, _ := l.(string)
			sb.WriteString(str)
		}
		return sb.String()
	}
	return ""
}

// lines splits text the way Jupyter stores multi-line strings: each element
// keeps its trailing newline.
func lines(text string) []string {
	out := []string{}
	for text != "" {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}

// ---------------------------------------------------------------- build

// cellInfo is one entry of cells.json.
type cellInfo struct {
	Index      int    `json:"index"`
	CellType   string `json:"cell_type"`
	HasProgram bool   `json:"has_program"` // a "%%" part: run as NBRUN_CELL=<index>
	Func       string `json:"func,omitempty"`
}

type manifest struct {
	Program string     `json:"program"` // the composed binary, relative to OUTDIR
	Env     string     `json:"env"`     // variable that selects the cell
	Cells   []cellInfo `json:"cells"`
}

type importSpec struct{ name, path string }

// splitCell separates a GoNB cell into declarations and main body (hasMain
// says whether a "%%" line was there), rejecting other GoNB magics that
// nbrun does not implement.
func splitCell(idx int, src string) (decls, body string, hasMain bool, err error) {
	var d, b strings.Builder
	for n, line := range strings.SplitAfter(src, "\n") {
		trimmed := strings.TrimPrefix(line, "//gonb:")
		bare := strings.TrimRight(trimmed, " \t\r\n")
		switch {
		case !hasMain && (bare == "%%" || bare == "%main"):
			hasMain = true
			continue
		case strings.HasPrefix(bare, "%") || strings.HasPrefix(bare, "!"):
			return "", "", false, fmt.Errorf("cell %d line %d: GoNB command %q is not supported by nbrun", idx, n+1, bare)
		}
		if hasMain {
			b.WriteString(line)
		} else {
			d.WriteString(line)
		}
	}
	return d.String(), b.String(), hasMain, nil
}

// declNames lists the top-level names a declaration defines (methods as
// Type.Method).
func declNames(decl ast.Decl) []string {
	var names []string
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if d.Recv != nil && len(d.Recv.List) > 0 {
			t := d.Recv.List[0].Type
			for {
				switch x := t.(type) {
				case *ast.StarExpr:
					t = x.X
					continue
				case *ast.IndexExpr:
					t = x.X
					continue
				case *ast.IndexListExpr:
					t = x.X
					continue
				}
				break
			}
			if id, ok := t.(*ast.Ident); ok {
				return []string{id.Name + "." + d.Name.Name}
			}
		}
		if d.Name.Name == "init" {
			return nil // several init functions are legal
		}
		names = append(names, d.Name.Name)
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch sp := s.(type) {
			case *ast.ValueSpec:
				for _, n := range sp.Names {
					if n.Name != "_" {
						names = append(names, n.Name)
					}
				}
			case *ast.TypeSpec:
				names = append(names, sp.Name.Name)
			}
		}
	}
	return names
}

// compose builds the single program for all code cells.
func compose(cells []map[string]any) (string, []cellInfo, []string, error) {
	var (
		imports  []importSpec
		seenImp  = map[importSpec]bool{}
		decls    []string
		definers = map[string]int{}
		bodies   strings.Builder
		infos    []cellInfo
		warnings []string
	)
	for i, cell := range cells {
		ct, _ := cell["cell_type"].(string)
		info := cellInfo{Index: i, CellType: ct}
		if ct != "code" {
			infos = append(infos, info)
			continue
		}
		declSrc, body, hasMain, err := splitCell(i, sourceText(cell))
		if err != nil {
			return "", nil, nil, err
		}
		src := "package main\n" + declSrc
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, fmt.Sprintf("cell%d.go", i), src, parser.ParseComments)
		if err != nil {
			return "", nil, nil, fmt.Errorf("cell %d declarations: %w", i, err)
		}
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.IMPORT {
				for _, s := range gd.Specs {
					is := s.(*ast.ImportSpec)
					spec := importSpec{path: is.Path.Value}
					if is.Name != nil {
						spec.name = is.Name.Name
					}
					if !seenImp[spec] {
						seenImp[spec] = true
						imports = append(imports, spec)
					}
				}
				continue
			}
			for _, n := range declNames(decl) {
				if prev, ok := definers[n]; ok {
					return "", nil, nil, fmt.Errorf("cell %d redefines %q from cell %d: GoNB would replace it for later cells, "+
						"but nbrun composes all cells into one program and cannot; rename one of them", i, n, prev)
				}
				definers[n] = i
			}
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, s := range gd.Specs {
					if vs := s.(*ast.ValueSpec); len(vs.Values) > 0 {
						warnings = append(warnings, fmt.Sprintf("cell %d: package-level var %s has an initializer; in the "+
							"composed program it runs for every cell, not only from cell %d on", i, vs.Names[0].Name, i))
					}
				}
			}
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Name.Name == "init" && fd.Recv == nil {
				warnings = append(warnings, fmt.Sprintf("cell %d: func init runs for every cell in the composed program", i))
			}
			start := decl.Pos()
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Doc != nil {
					start = d.Doc.Pos()
				}
			case *ast.GenDecl:
				if d.Doc != nil {
					start = d.Doc.Pos()
				}
			}
			text := src[fset.Position(start).Offset:fset.Position(decl.End()).Offset]
			decls = append(decls, fmt.Sprintf("// cell %d\n%s\n", i, text))
		}
		if hasMain {
			info.HasProgram = true
			info.Func = fmt.Sprintf("cell%02d", i)
			fmt.Fprintf(&bodies, "// cell %d: the part after %%%%.\nfunc %s() {\n%s\n}\n\n", i, info.Func, body)
		}
		infos = append(infos, info)
	}
	if _, ok := definers["main"]; ok {
		return "", nil, nil, errors.New("a cell declares func main; nbrun (like GoNB's %%) generates it")
	}
	var sb strings.Builder
	sb.WriteString("// Code generated by scripts/nbrun; DO NOT EDIT.\n\npackage main\n\nimport (\n")
	// flag, fmt and os are needed by main; goimports drops whatever is unused.
	for _, std := range []string{`"flag"`, `"fmt"`, `"os"`} {
		if !seenImp[importSpec{path: std}] {
			imports = append(imports, importSpec{path: std})
		}
	}
	for _, is := range imports {
		if is.name != "" {
			fmt.Fprintf(&sb, "\t%s %s\n", is.name, is.path)
		} else {
			fmt.Fprintf(&sb, "\t%s\n", is.path)
		}
	}
	sb.WriteString(")\n\n")
	for _, d := range decls {
		sb.WriteString(d)
		sb.WriteString("\n")
	}
	sb.WriteString(bodies.String())
	sb.WriteString("func main() {\n\tflag.Parse()\n\tswitch os.Getenv(\"" + cellEnv + "\") {\n")
	for _, in := range infos {
		if in.HasProgram {
			fmt.Fprintf(&sb, "\tcase %q:\n\t\t%s()\n", strconv.Itoa(in.Index), in.Func)
		}
	}
	sb.WriteString("\tdefault:\n\t\tfmt.Fprintf(os.Stderr, \"" + cellEnv + "=%q is not a cell with a %%%% part\\n\", os.Getenv(\"" + cellEnv + "\"))\n\t\tos.Exit(2)\n\t}\n}\n")
	return sb.String(), infos, warnings, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module (run from the repository)")
	}
	return filepath.Dir(gomod), nil
}

func runLogged(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "nbrun: %s %s\n", name, strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func build(nbPath, outDir string) error {
	_, cells, err := readNotebook(nbPath)
	if err != nil {
		return err
	}
	src, infos, warnings, err := compose(cells)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "nbrun: warning:", w)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	// The program lives inside the module (.cache is ignored by git and by
	// ./... patterns, but an explicit package path builds), so the
	// notebook's imports of this module resolve exactly as in the kernel.
	srcDir := filepath.Join(root, ".cache", "nbrun-src")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return err
	}
	mainGo := filepath.Join(srcDir, "main.go")
	if err := os.WriteFile(mainGo, []byte(src), 0o644); err != nil {
		return err
	}
	if err := runLogged(root, nil, "goimports", "-w", mainGo); err != nil {
		return err
	}
	prog := filepath.Join(outDir, "cells")
	if err := runLogged(root, []string{"CGO_ENABLED=1"}, "go", "build", "-ldflags=-s -w", "-o", prog, "./.cache/nbrun-src"); err != nil {
		return fmt.Errorf("%w (generated source: %s)", err, mainGo)
	}
	if err := runLogged(root, []string{"CGO_ENABLED=0"}, "go", "build", "-ldflags=-s -w", "-o", filepath.Join(outDir, "nbrun"), "./scripts/nbrun"); err != nil {
		return err
	}
	formatted, err := os.ReadFile(mainGo)
	if err != nil {
		return err
	}
	nbRaw, err := os.ReadFile(nbPath)
	if err != nil {
		return err
	}
	m, err := json.MarshalIndent(manifest{Program: "cells", Env: cellEnv, Cells: infos}, "", " ")
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"main.go": formatted, "notebook.ipynb": nbRaw, "cells.json": append(m, '\n')} {
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return err
		}
	}
	st, err := os.Stat(prog)
	if err != nil {
		return err
	}
	n := 0
	for _, in := range infos {
		if in.HasProgram {
			n++
		}
	}
	fmt.Printf("nbrun: %d code cells with a %%%% part compiled into %s (%.1f MB)\n", n, prog, float64(st.Size())/1e6)
	return nil
}

// ---------------------------------------------------------------- run

// output is one Jupyter output; the streams and display data of a cell
// arrive from three goroutines and are appended in arrival order.
type output map[string]any

// session holds the notebook being filled and the display ids seen so far
// (GoNB's KnownBlockIds: an update to a known id replaces that output,
// wherever it is).
type session struct {
	mu       sync.Mutex
	current  *os.Process // the running cell program, killed on SIGINT/SIGTERM
	stopped  bool
	outputs  map[int][]output // by cell index
	displays map[string][]output
	verbose  bool
}

func (s *session) stream(cell int, name, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	outs := s.outputs[cell]
	if n := len(outs); n > 0 && outs[n-1]["output_type"] == "stream" && outs[n-1]["name"] == name {
		outs[n-1]["text"] = outs[n-1]["text"].(string) + text
		return
	}
	s.outputs[cell] = append(outs, output{"output_type": "stream", "name": name, "text": text})
}

func (s *session) display(cell int, d *protocol.DisplayData) {
	data := map[string]any{}
	for mime, v := range d.Data {
		if strings.HasPrefix(string(mime), "gonb/") {
			continue // GoNB's internal channels (comms, input requests)
		}
		data[string(mime)] = v
	}
	if len(data) == 0 {
		return
	}
	meta := map[string]any{}
	for k, v := range d.Metadata {
		meta[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.DisplayID != "" {
		if known := s.displays[d.DisplayID]; len(known) > 0 {
			for _, o := range known {
				o["data"], o["metadata"] = data, meta
			}
			return
		}
	}
	o := output{"output_type": "display_data", "data": data, "metadata": meta}
	s.outputs[cell] = append(s.outputs[cell], o)
	if d.DisplayID != "" {
		s.displays[d.DisplayID] = append(s.displays[d.DisplayID], o)
	}
}

func (s *session) add(cell int, o output) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outputs[cell] = append(s.outputs[cell], o)
}

// jupyterOutputs converts a cell's outputs to nbformat JSON values
// (multi-line strings as lists of lines).
func (s *session) jupyterOutputs(cell int) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := []any{}
	for _, o := range s.outputs[cell] {
		j := map[string]any{}
		for k, v := range o {
			j[k] = v
		}
		if t, ok := j["text"].(string); ok {
			j["text"] = lines(t)
		}
		if data, ok := j["data"].(map[string]any); ok {
			jd := map[string]any{}
			for mime, v := range data {
				if str, ok := v.(string); ok && (strings.HasPrefix(mime, "text/") || mime == "image/svg+xml") {
					jd[mime] = lines(str)
				} else {
					jd[mime] = v // []byte (PNG) marshals to base64, as nbformat wants
				}
			}
			j["data"] = jd
		}
		res = append(res, j)
	}
	return res
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	root := fs.String("root", ".", "working directory of the cells (the repository root)")
	verbose := fs.Bool("v", false, "echo the cells' stdout and stderr while they run")
	// Positional arguments may come before or after the flags.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) < 1 || len(pos) > 2 {
		usage()
	}
	outDir := pos[0]
	executed := filepath.Join(outDir, "executed.ipynb")
	if len(pos) == 2 {
		executed = pos[1]
	}
	rootAbs, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	var man manifest
	raw, err := os.ReadFile(filepath.Join(outDir, "cells.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		return fmt.Errorf("cells.json: %w", err)
	}
	prog, err := filepath.Abs(filepath.Join(outDir, man.Program))
	if err != nil {
		return err
	}
	nb, cells, err := readNotebook(filepath.Join(outDir, "notebook.ipynb"))
	if err != nil {
		return err
	}
	if len(cells) != len(man.Cells) {
		return fmt.Errorf("cells.json lists %d cells, notebook.ipynb has %d", len(man.Cells), len(cells))
	}
	pipeDir, err := os.MkdirTemp("", "nbrun-pipes-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(pipeDir)

	s := &session{outputs: map[int][]output{}, displays: map[string][]output{}, verbose: *verbose}
	// On SIGINT/SIGTERM (e.g. from timeout) kill the running cell: it then
	// fails like an interrupted cell and the notebook so far is written.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range sigs {
			s.mu.Lock()
			s.stopped = true
			if s.current != nil {
				fmt.Fprintf(os.Stderr, "nbrun: %v: killing the running cell\n", sig)
				_ = s.current.Kill()
			}
			s.mu.Unlock()
		}
	}()
	for _, c := range cells {
		if c["cell_type"] == "code" {
			c["outputs"] = []any{}
			c["execution_count"] = nil
			if meta, ok := c["metadata"].(map[string]any); ok {
				delete(meta, "execution") // timings of the run the notebook was saved from
			}
		}
	}
	var (
		count      int
		total      time.Duration
		lastStdout string
		failure    error
	)
	for i, info := range man.Cells {
		if info.CellType != "code" {
			continue
		}
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			failure = errors.New("interrupted")
			break
		}
		count++
		cells[i]["execution_count"] = count
		if !info.HasProgram {
			// GoNB compiles a declarations-only cell and runs nothing.
			fmt.Printf("cell %2d [%d]: declarations only\n", i, count)
			continue
		}
		start := time.Now()
		stdout, runErr := s.runCell(i, prog, rootAbs, pipeDir)
		dt := time.Since(start)
		total += dt
		lastStdout = stdout
		meta, _ := cells[i]["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			cells[i]["metadata"] = meta
		}
		t0, t1 := start.UTC().Format(time.RFC3339Nano), start.Add(dt).UTC().Format(time.RFC3339Nano)
		meta["execution"] = map[string]any{
			"iopub.execute_input": t0, "iopub.status.busy": t0,
			"iopub.status.idle": t1, "shell.execute_reply": t1,
		}
		cells[i]["outputs"] = s.jupyterOutputs(i)
		status := "ok"
		if runErr != nil {
			status = "FAILED: " + runErr.Error()
			failure = fmt.Errorf("cell %d: %w", i, runErr)
		}
		fmt.Printf("cell %2d [%d]: %7.1f s, %d outputs, %s\n", i, count, dt.Seconds(), len(s.outputs[i]), status)
		// Earlier cells' outputs may have changed through display-id updates.
		for j := 0; j < i; j++ {
			if man.Cells[j].HasProgram && cells[j]["execution_count"] != nil {
				cells[j]["outputs"] = s.jupyterOutputs(j)
			}
		}
		if err := writeNotebook(executed, nb); err != nil {
			return err
		}
		if failure != nil {
			break
		}
	}
	if err := writeNotebook(executed, nb); err != nil {
		return err
	}
	fmt.Printf("total %.1f s; executed notebook: %s\n", total.Seconds(), executed)
	fmt.Printf("--- stdout of the last cell run:\n%s", lastStdout)
	if lastStdout != "" && !strings.HasSuffix(lastStdout, "\n") {
		fmt.Println()
	}
	return failure
}

func writeNotebook(path string, nb notebook) error {
	data, err := json.MarshalIndent(nb, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// unblockFifo opens path read-write, which never blocks on Linux and
// completes a peer's pending open of either end; closing it again leaves
// that peer at EOF (reader) or EPIPE (writer).
func unblockFifo(path string) {
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		_ = f.Close()
	}
}

// runCell runs one cell program with GoNB's pipes and collects its outputs;
// it returns the cell's stdout.
func (s *session) runCell(idx int, prog, root, pipeDir string) (string, error) {
	toRunner := filepath.Join(pipeDir, fmt.Sprintf("cell%02d_pipe", idx))      // $GONB_PIPE: program writes DisplayData
	toProgram := filepath.Join(pipeDir, fmt.Sprintf("cell%02d_pipeback", idx)) // $GONB_PIPE_BACK: program reads CommValue
	for _, p := range []string{toRunner, toProgram} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			return "", fmt.Errorf("mkfifo %s: %w", p, err)
		}
		defer os.Remove(p)
	}

	// gonbui opens $GONB_PIPE for writing first, then $GONB_PIPE_BACK for
	// reading, each open blocking until the other end is open: open both
	// our ends in goroutines.
	var (
		wg         sync.WaitGroup
		readerOpen = make(chan struct{}) // closed once our end of $GONB_PIPE is open (or failed)
		writerOpen = make(chan struct{}) // same for $GONB_PIPE_BACK
		acks       = make(chan *protocol.CommValue, 64)
		done       = make(chan struct{})
	)
	wg.Add(2)
	go func() { // display data from the program
		defer wg.Done()
		f, err := os.OpenFile(toRunner, os.O_RDONLY, 0)
		close(readerOpen)
		if err != nil {
			return
		}
		defer f.Close()
		dec := gob.NewDecoder(f)
		for {
			d := &protocol.DisplayData{}
			if err := dec.Decode(d); err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					s.stream(idx, "stderr", fmt.Sprintf("nbrun: bad message on %s: %v\n", protocol.GONB_PIPE_ENV, err))
				}
				return
			}
			if v, ok := d.Data[protocol.MIMECommValue]; ok {
				var cv protocol.CommValue
				switch x := v.(type) {
				case protocol.CommValue:
					cv = x
				case *protocol.CommValue:
					cv = *x
				}
				if cv.Address == protocol.GonbuiSyncAddress {
					if id, ok := cv.Value.(int); ok {
						// GoNB's reply: a *protocol.CommValue at the ack address, same id.
						acks <- &protocol.CommValue{Address: protocol.GonbuiSyncAckAddress, Value: id}
					}
				}
				continue // other comms (widgets) have no front-end here
			}
			if _, ok := d.Data[protocol.MIMEJupyterInput]; ok {
				s.stream(idx, "stderr", "nbrun: the cell asked for input; there is no stdin here\n")
				continue
			}
			s.display(idx, d)
		}
	}()
	go func() { // acknowledgements to the program
		defer wg.Done()
		f, err := os.OpenFile(toProgram, os.O_WRONLY, 0)
		close(writerOpen)
		if err != nil {
			return
		}
		defer f.Close()
		enc := gob.NewEncoder(f)
		for {
			select {
			case a := <-acks:
				if err := enc.Encode(a); err != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()

	cmd := exec.Command(prog)
	cmd.Dir = root
	env := append(os.Environ(),
		cellEnv+"="+strconv.Itoa(idx),
		protocol.GONB_PIPE_ENV+"="+toRunner,
		protocol.GONB_PIPE_BACK_ENV+"="+toProgram,
	)
	if os.Getenv("GOPEFT_ROOT") == "" {
		env = append(env, "GOPEFT_ROOT="+root) // the checkout the kernel imports GoPEFT from
	}
	cmd.Env = env
	var stdoutBuf, stderrBuf bytes.Buffer
	var streams sync.WaitGroup
	for _, st := range []struct {
		name string
		buf  *bytes.Buffer
		echo io.Writer
		set  func(*os.File)
	}{
		{"stdout", &stdoutBuf, os.Stdout, func(f *os.File) { cmd.Stdout = f }},
		{"stderr", &stderrBuf, os.Stderr, func(f *os.File) { cmd.Stderr = f }},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			return "", err
		}
		st.set(w)
		defer w.Close()
		streams.Add(1)
		go func() {
			defer streams.Done()
			defer r.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					text := string(buf[:n])
					st.buf.WriteString(text)
					s.stream(idx, st.name, text)
					if s.verbose {
						_, _ = st.echo.Write(buf[:n])
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	s.mu.Lock()
	startErr := errors.New("interrupted")
	if !s.stopped {
		startErr = cmd.Start()
		if startErr == nil {
			s.current = cmd.Process
		}
	}
	s.mu.Unlock()
	cmd.Stdout.(*os.File).Close()
	cmd.Stderr.(*os.File).Close()
	var waitErr error
	if startErr != nil {
		waitErr = startErr
	} else {
		waitErr = cmd.Wait()
		s.mu.Lock()
		s.current = nil
		s.mu.Unlock()
	}
	streams.Wait()
	// The program is gone: complete any open of ours it never paired.
	for _, p := range []struct {
		path   string
		opened chan struct{}
	}{{toRunner, readerOpen}, {toProgram, writerOpen}} {
		for opened := false; !opened; {
			select {
			case <-p.opened:
				opened = true
			default:
				unblockFifo(p.path)
				select {
				case <-p.opened:
					opened = true
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}
	close(done)
	wg.Wait()

	if waitErr != nil {
		s.add(idx, errorOutput(waitErr, stderrBuf.String()))
	}
	return stdoutBuf.String(), waitErr
}

// errorOutput is the Jupyter "error" output for a failed cell: a panic's
// message and goroutine trace when there is one, else the exit status.
func errorOutput(err error, stderr string) output {
	ename, evalue := "ExitError", err.Error()
	var trace []string
	if i := strings.LastIndex(stderr, "panic: "); i >= 0 {
		ename = "panic"
		rest := stderr[i+len("panic: "):]
		evalue = strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
		trace = strings.Split(strings.TrimRight(stderr[i:], "\n"), "\n")
	} else {
		tail := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if len(tail) > 20 {
			tail = tail[len(tail)-20:]
		}
		for _, l := range tail {
			if l != "" {
				trace = append(trace, l)
			}
		}
	}
	trace = append(trace, err.Error())
	return output{"output_type": "error", "ename": ename, "evalue": evalue, "traceback": trace}
}
