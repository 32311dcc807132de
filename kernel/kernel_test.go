package kernel

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
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
	stderr := "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t \x1b[7m[[ Cell [3] Line 2 ]]\x1b[0m /tmp/x/main.go:10 +0x65\n"
	ename, evalue, tb := cellError("exit status 2\n", stderr, "", false)
	if ename != "panic" || evalue != "boom" {
		t.Fatalf("got %q %q", ename, evalue)
	}
	if !strings.Contains(strings.Join(tb, "\n"), "Cell [3], line 2, in main.main") {
		t.Fatalf("traceback does not map the cell line: %q", tb)
	}
	ename, evalue, _ = cellError("exit status 3\n", "", "", false)
	if ename != "ExitError" || !strings.Contains(evalue, "3") {
		t.Fatalf("exit: got %q %q", ename, evalue)
	}
	ename, _, _ = cellError("^C\nsignal: interrupt\n", "", "", true)
	if ename != "KeyboardInterrupt" {
		t.Fatalf("interrupt: got %q", ename)
	}
	ename, evalue, _ = cellError("exit status 2\n", "fatal error: all goroutines are asleep - deadlock!\n", "", false)
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
	mainGo := filepath.Join(t.TempDir(), "main.go")
	src := "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tvar s []int\n\t_ = s[3]\n\tfmt.Println()\n}\n"
	if err := os.WriteFile(mainGo, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr := "panic: runtime error: index out of range [3] with length 0\n\ngoroutine 1 [running]:\nmain.main()\n\t" + mainGo + ":7 +0x52\n"
	_, _, tb := cellError("exit status 2\n", stderr, "%%\nvar s []int\n_ = s[3]", false)
	if !strings.Contains(strings.Join(tb, "\n"), "Cell line 3, in main.main") {
		t.Fatalf("unannotated frame not mapped to the cell: %q", tb)
	}
}
