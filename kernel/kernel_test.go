package kernel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSignerRejectsMisSigned(t *testing.T) {
	s := signer{key: []byte("secret")}
	m := newMessage("sess", "kernel_info_request", nil, map[string]any{})
	m.Identities = [][]byte{[]byte("client")}
	frames := s.encode(m)
	got, err := s.decode(frames)
	if err != nil {
		t.Fatalf("decode of a well-signed message: %v", err)
	}
	if got.Header.MsgType != "kernel_info_request" || string(got.Identities[0]) != "client" {
		t.Fatalf("decoded %+v", got.Header)
	}
	bad := signer{key: []byte("other")}.encode(m)
	if _, err := s.decode(bad); err != ErrBadSignature {
		t.Fatalf("mis-signed message: err = %v, want ErrBadSignature", err)
	}
	// Tampered content with the original signature is rejected too.
	tampered := append([][]byte(nil), frames...)
	tampered[len(tampered)-1] = []byte(`{"code":"evil"}`)
	if _, err := s.decode(tampered); err != ErrBadSignature {
		t.Fatalf("tampered message: err = %v, want ErrBadSignature", err)
	}
	if _, err := s.decode([][]byte{[]byte("x")}); err == nil {
		t.Fatal("malformed message accepted")
	}
}

func TestCellErrorPanicMapsLines(t *testing.T) {
	stderr := "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t \x1b[7m[[ Cell [3] Line 2 ]]\x1b[0m /tmp/gopeft-kernel-1/gonb_ab12/main.go:10 +0x65\n"
	ename, evalue, tb := cellError(cellFailure{Exit: "exit status 2\n", Stderr: stderr, Count: 3})
	if ename != "panic" || evalue != "boom" {
		t.Fatalf("got %q %q", ename, evalue)
	}
	want := []string{errorHeader("panic", "boom"), "goroutine 1 [running]:", "main.main()\n\tCell[3] line 2"}
	if !reflect.DeepEqual(tb, want) {
		t.Fatalf("traceback\n got  %q\n want %q", tb, want)
	}
	ename, evalue, tb = cellError(cellFailure{Exit: "exit status 3\n"})
	if ename != "ExitError" || !strings.Contains(evalue, "3") || len(tb) != 1 {
		t.Fatalf("exit: got %q %q %q", ename, evalue, tb)
	}
	ename, _, _ = cellError(cellFailure{Exit: "^C\nsignal: interrupt\n", Interrupted: true})
	if ename != "KeyboardInterrupt" {
		t.Fatalf("interrupt: got %q", ename)
	}
	ename, evalue, _ = cellError(cellFailure{Exit: "exit status 2\n", Stderr: "fatal error: all goroutines are asleep - deadlock!\n"})
	if ename != "FatalError" || !strings.Contains(evalue, "deadlock") {
		t.Fatalf("fatal: got %q %q", ename, evalue)
	}
	for _, s := range []string{"exit status 3\n", "signal: killed\n", "^C\nsignal: interrupt\n"} {
		if !exitLine.MatchString(s) {
			t.Errorf("exitLine does not match %q", s)
		}
	}
	if exitLine.MatchString("the exit status 3 was fine\n") {
		t.Error("exitLine matches ordinary output")
	}
}

// A panic inside a library called from a cell: the runtime's frames go, the
// library's stay (without pc offsets), the cell's read as cell lines, output
// the cell wrote before the crash is not part of it, and no temp path is left.
func TestCellErrorTracebackReadsLikeGo(t *testing.T) {
	stderr := "training...\npanic: runtime error: invalid memory address or nil pointer dereference [recovered]\n" +
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]\n\n" +
		"goroutine 1 [running]:\n" +
		"panic({0x5d2e40?, 0x8c1f30?})\n\t/usr/local/go/src/runtime/panic.go:792 +0x132\n" +
		"github.com/gopeft/gopeft/peft.(*Run).Loss(0x0, 0x3)\n\t/work/main/peft/run.go:41 +0x1d\n" +
		"main.train(...)\n\t \x1b[7m[[ Cell [2] Line 4 ]]\x1b[0m /tmp/gopeft-kernel-7/gonb_cd34/main.go:20\n" +
		"main.main()\n\t /tmp/gopeft-kernel-7/gonb_cd34/main.go:31 +0x25\n"
	_, evalue, tb := cellError(cellFailure{Exit: "exit status 2\n", Stderr: stderr, Count: 5})
	if evalue != "runtime error: invalid memory address or nil pointer dereference" {
		t.Fatalf("evalue %q", evalue)
	}
	want := []string{errorHeader("panic", evalue),
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]",
		"goroutine 1 [running]:",
		"github.com/gopeft/gopeft/peft.(*Run).Loss(...)\n\t/work/main/peft/run.go:41",
		"main.train(...)\n\tCell[2] line 4",
		"main.main()\n\tmain.go:31", // main.go here does not exist: not found in the cell
	}
	if !reflect.DeepEqual(tb, want) {
		t.Fatalf("traceback\n got  %q\n want %q", tb, want)
	}
}

func TestHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	h := newHistory(path)
	h.add(1, "%backend")
	h.add(2, "x := 1")
	h.add(3, "%backend")
	h.setOutput(3, "backend: go")
	tail := h.query(map[string]any{"hist_access_type": "tail", "n": 2.0, "output": true})
	if len(tail) != 2 {
		t.Fatalf("tail: %v", tail)
	}
	if io := tail[1].([]any)[2].([]any); io[1] != "backend: go" {
		t.Fatalf("output: %v", io)
	}
	r := h.query(map[string]any{"hist_access_type": "range", "session": 1.0, "start": 2.0, "stop": 3.0})
	if len(r) != 1 || r[0].([]any)[2] != "x := 1" {
		t.Fatalf("range: %v", r)
	}
	s := h.query(map[string]any{"hist_access_type": "search", "pattern": "%back*", "unique": true})
	if len(s) != 1 {
		t.Fatalf("unique search: %v", s)
	}
	s = h.query(map[string]any{"hist_access_type": "search", "pattern": "%back*", "n": 5.0})
	if len(s) != 2 {
		t.Fatalf("search: %v", s)
	}
	// A new kernel continues with the next session number.
	h2 := newHistory(path)
	if h2.session != 2 || len(h2.entries) != 3 {
		t.Fatalf("reloaded history: session %d, %d entries", h2.session, len(h2.entries))
	}
}

func TestCellGoMod(t *testing.T) {
	root := t.TempDir()
	gomod := "module github.com/gopeft/gopeft\n\ngo 1.26\n\nrequire (\n\tgithub.com/gomlx/gomlx v0.26.0 // indirect\n)\n\nreplace example.com/x => ./third_party/x\n"
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := CellGoMod("gonb_abc", root)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"module gonb_abc", "go 1.26", "github.com/gomlx/gomlx v0.26.0",
		"replace github.com/gopeft/gopeft => " + root, "replace example.com/x => " + filepath.Join(root, "third_party/x")} {
		if !strings.Contains(s, want) {
			t.Errorf("cell go.mod lacks %q:\n%s", want, s)
		}
	}
}

func TestInstallUninstall(t *testing.T) {
	root := t.TempDir()
	_ = os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/gopeft/gopeft\n\ngo 1.26\n"), 0o644)
	dir := filepath.Join(t.TempDir(), "kernels")
	plugin := filepath.Join(t.TempDir(), "site-packages", "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	_ = os.MkdirAll(filepath.Dir(plugin), 0o755)
	_ = os.WriteFile(plugin, nil, 0o644)

	written, err := Install(InstallOptions{Dir: dir, Exe: "/usr/local/bin/gopeft", Root: root, GPUPlugin: plugin})
	if err != nil || len(written) != 2 {
		t.Fatalf("install: %v %v", written, err)
	}
	var spec Spec
	data, _ := os.ReadFile(filepath.Join(dir, "gopeft", "kernel.json"))
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.DisplayName != "GoPEFT (Go)" || spec.InterruptMode != "message" || spec.Env["GOPEFT_ROOT"] != root ||
		spec.Argv[len(spec.Argv)-1] != "{connection_file}" {
		t.Fatalf("gopeft spec: %+v", spec)
	}
	if _, set := spec.Env["GOMLX_BACKEND"]; set {
		t.Fatal("the pure-Go spec must not override a user's GOMLX_BACKEND")
	}
	data, _ = os.ReadFile(filepath.Join(dir, "gopeft-gpu", "kernel.json"))
	var gpu Spec
	_ = json.Unmarshal(data, &gpu)
	if gpu.DisplayName != "GoPEFT (GPU)" || gpu.Env["GOMLX_BACKEND"] != "xla:"+plugin || gpu.Env["GOPJRT_CUDA_CHECKS"] != "0" {
		t.Fatalf("gpu spec: %+v", gpu)
	}
	for _, n := range []string{"logo-32x32.png", "logo-64x64.png"} {
		f, err := os.ReadFile(filepath.Join(dir, "gopeft", n))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(f))
		if err != nil || !strings.Contains(n, "x"+itoa(img.Bounds().Dx())) {
			t.Fatalf("%s: %v %v", n, err, img.Bounds())
		}
	}
	// Reinstalling without a plugin removes the stale GPU spec.
	if _, err := Install(InstallOptions{Dir: dir, Exe: "/usr/local/bin/gopeft", Root: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gopeft-gpu")); !os.IsNotExist(err) {
		t.Fatal("gopeft-gpu left after reinstall without a plugin")
	}
	removed, err := Uninstall(dir)
	if err != nil || len(removed) != 1 {
		t.Fatalf("uninstall: %v %v", removed, err)
	}
	if _, err := Install(InstallOptions{Dir: dir, Exe: "relative/gopeft", Root: root}); err == nil {
		t.Fatal("relative executable accepted")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestRunMagics(t *testing.T) {
	code, out := runMagics("%backend\n%%\nfmt.Println(1)", func() string { return "backend: go" })
	if out != "backend: go" || code != "\n%%\nfmt.Println(1)" {
		t.Fatalf("got %q %q", code, out)
	}
	code, out = runMagics("%%\nfmt.Println(1)", EnvBackend)
	if out != "" || code != "%%\nfmt.Println(1)" {
		t.Fatalf("got %q %q", code, out)
	}
}

func TestFixWidgetJS(t *testing.T) {
	js := `<script>let x = {_ws_url: "ws://" + document.location.host + "/api/kernels/abc/channels"};</script>`
	m := newMessage("s", "display_data", nil, map[string]any{"data": map[string]any{"text/html": js}, "metadata": map[string]any{}})
	fixWidgetJS(m)
	got := m.Content()["data"].(map[string]any)["text/html"].(string)
	if strings.Contains(got, `"ws://" + document.location.host`) || !strings.Contains(got, `wss://`) || !strings.Contains(got, `"api/kernels/abc/channels"`) {
		t.Fatalf("websocket URL not rewritten: %s", got)
	}
}

func TestLogFilter(t *testing.T) {
	var b bytes.Buffer
	t.Setenv("GOPEFT_KERNEL_DEBUG", "")
	w := newLogFilter(&b)
	_, _ = w.Write([]byte("I1128 13:00 info line\nE1128 13:00 err"))
	_, _ = w.Write([]byte("or line\nplain\n"))
	if b.String() != "E1128 13:00 error line\nplain\n" {
		t.Fatalf("filtered log = %q", b.String())
	}
}

func TestDoctorFindsSpec(t *testing.T) {
	root := t.TempDir()
	_ = os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/gopeft/gopeft\n"), 0o644)
	data := t.TempDir()
	exe, _ := os.Executable()
	if _, err := Install(InstallOptions{Dir: filepath.Join(data, "kernels"), Exe: exe, Root: root}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JUPYTER_DATA_DIR", data)
	t.Setenv("JUPYTER_PATH", "")
	var spec *Finding
	for _, f := range Doctor() {
		if f.Name == "kernelspec gopeft" {
			f := f
			spec = &f
		}
	}
	if spec == nil || !spec.OK {
		t.Fatalf("doctor did not accept the installed spec: %+v", spec)
	}
}

// GoNB annotates a frame only when its position arrives in one read of the
// program's stderr; an unannotated frame is mapped through main.go.
func TestCellErrorMapsUnannotatedFrames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gopeft-kernel-42", "gonb_0a1b")
	mainGo := filepath.Join(dir, "main.go")
	src := "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tvar s []int\n\t_ = s[3]\n\tfmt.Println()\n}\n"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mainGo, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr := "panic: runtime error: index out of range [3] with length 0\n\ngoroutine 1 [running]:\nmain.main()\n\t" + mainGo + ":7 +0x52\n"
	// GoNB's annotation without a cell number is not trusted.
	annotated := strings.Replace(stderr, "\t", "\t \x1b[7m[[ Cell Line 0 ]]\x1b[0m ", 1)
	f := cellFailure{Exit: "exit status 2\n", Stderr: stderr, Code: "%%\nvar s []int\n_ = s[3]", Count: 4}
	if _, _, tb := cellError(f); tb[len(tb)-1] != "main.main()\n\tCell[4] line 3" {
		t.Fatalf("unannotated frame not mapped to the cell: %q", tb)
	}
	f.Stderr = annotated
	if _, _, tb := cellError(f); tb[len(tb)-1] != "main.main()\n\tCell[4] line 3" {
		t.Fatalf("frame annotated without a cell number not mapped to the cell: %q", tb)
	}
	// A cell that is not stored has no number.
	f.Count = 0
	if _, _, tb := cellError(f); tb[len(tb)-1] != "main.main()\n\tCell line 3" {
		t.Fatalf("unstored cell: %q", tb)
	}
}

// compileReportHTML has the structure of GoNB 0.11.1's build-error display:
// a line without context (go build naming the package), then per compiler
// message the cell line, the main.go position, the message and the source
// with the offending line marked (HTML-escaped).
const compileReportHTML = `<style>.gonb-err-location {}</style>
<div class="x" data-mime-type="application/vnd.jupyter.stderr">
<span style="white-space: pre;"> # gonb_7ba72f9b</span>
<br/>
<span class="gonb-cell-line-info">Cell[3]: Line 2</span>
<span class="gonb-err-location">./main.go:16:1: </span> undefined: undefinedThing
<div class="gonb-err-context">
func main() {
<div class="gonb-err-line">undefinedThing()
</div>y := &#34;a&#34; + 1
</div>
<br/>
<span class="gonb-cell-line-info">Cell[3]: Line 3</span>
<span class="gonb-err-location">./main.go:17:6: </span> invalid operation: "a" + 1 (mismatched types untyped string and untyped int)
<div class="gonb-err-context">
<div class="gonb-err-line">	y := &#34;a&#34; + 1
</div>}
</div>
<br/>
<span class="gonb-err-location">/tmp/gopeft-kernel-9/gonb_7ba72f9b/main.go:30:2: </span> missing return
<br/>
<span style="white-space: pre;"> </span>
<br/>
</div>`

func TestCompileReport(t *testing.T) {
	got := compileReport(compileReportHTML)
	want := []string{
		"Cell[3] line 2: undefined: undefinedThing\n\tundefinedThing()",
		"Cell[3] line 3: invalid operation: \"a\" + 1 (mismatched types untyped string and untyped int)\n\ty := \"a\" + 1",
		"main.go:30: missing return",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("compileReport\n got  %q\n want %q", got, want)
	}
	ename, evalue, tb := compileError(got)
	if ename != "CompileError" || !strings.HasPrefix(evalue, "Cell[3] line 2: undefined: undefinedThing\nCell[3] line 3: invalid operation") ||
		strings.Contains(evalue, "\t") || len(tb) != 4 || tb[1] != want[0] {
		t.Fatalf("compileError: %q %q %q", ename, evalue, tb)
	}
	if compileReport(`<span style="white-space: pre;">a widget</span>`) != nil {
		t.Fatal("ordinary HTML read as a compile report")
	}
	c := map[string]any{"evalue": `failed to run "/usr/local/go/bin/go build -o /tmp/gopeft-kernel-25/gonb_7b/gonb_7b": exit status 1`,
		"traceback": []any{"parsing go files in TempDir \"/tmp/gopeft-kernel-25/gonb_7b\": /tmp/gopeft-kernel-25/gonb_7b/main.go:3:1: x"}}
	withoutTempPaths(c)
	if s := fmt.Sprint(c); strings.Contains(s, "gopeft-kernel") || !strings.Contains(s, "main.go:3:1: x") {
		t.Fatalf("temp paths left: %v", c)
	}
}
