package kernel

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"2GiB": 2 << 30, "512M": 512 << 20, "1.5g": 3 << 29, "300000000": 300000000, "64kB": 64 << 10,
		"off": 0, "0": 0, "none": 0, " 2 GiB ": 2 << 30,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1G", "1X"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	t.Setenv("GOPEFT_CELL_MEMORY", "3GiB")
	if n, err := MemoryLimit(); err != nil || n != 3<<30 {
		t.Fatalf("GOPEFT_CELL_MEMORY=3GiB: %d, %v", n, err)
	}
	t.Setenv("GOPEFT_CELL_MEMORY", "off")
	if n, err := MemoryLimit(); err != nil || n != 0 {
		t.Fatalf("off: %d, %v", n, err)
	}
	t.Setenv("GOPEFT_CELL_MEMORY", "10M")
	if _, err := MemoryLimit(); err == nil {
		t.Fatal("a limit too small for go build was accepted")
	}
	t.Setenv("GOPEFT_CELL_MEMORY", "")
	n, err := MemoryLimit()
	if err != nil || n <= 0 || n >= physicalMemory() {
		t.Fatalf("default: %d, %v (machine %d)", n, err, physicalMemory())
	}
}

// The sweep of a finished cell's leftovers comes first: before its reply
// (the client may rely on the cell being over) and before the next cell
// reaches GoNB (whose processes must not be taken for leftovers).
func TestQueueSweepsBeforeReply(t *testing.T) {
	q := testQueue()
	a, b := execReq("A", "a", nil), execReq("B", "b", nil)
	q.Execute("shell", a, "a", "")
	q.Execute("shell", b, "b", "")
	outs := (&engine1{t: t, q: q, req: a}).run("ok", "stdout", "x\n")
	if len(outs) == 0 || outs[0].kind != outSweep {
		t.Fatalf("first out is not the sweep: %q", describe(outs))
	}
	for _, o := range outs[1:] {
		if o.kind == outSweep {
			t.Fatal("swept twice")
		}
	}
	if o := outs[len(outs)-1]; o.kind != outEngine || o.msg.Header.MsgID != "B" {
		t.Fatalf("B does not start last: %q", describe(outs))
	}
}

func TestQueueOutputLimit(t *testing.T) {
	q := testQueue()
	q.outputLimit = 10
	a := execReq("A", "a", nil)
	q.Execute("shell", a, "a", "")
	e := &engine1{t: t, q: q, req: a}
	wantOuts(t, "under the limit", e.stream("stdout", "12345"), `forward stream A "12345"`)
	wantOuts(t, "crossing it: cut, then a notice", e.stream("stdout", "67890abc"),
		`publish stream A "67890"`,
		`publish stream A "\n[gopeft: this cell's output reached 10 bytes; the rest is not sent to the notebook (GOPEFT_CELL_OUTPUT_LIMIT)]\n"`)
	wantOuts(t, "then nothing", e.stream("stdout", strings.Repeat("y", 2000)))
	wantOuts(t, "stderr counts too", e.stream("stderr", "warning\n"))
	outs := e.run("ok")
	wantOuts(t, "the end says how much was dropped", outs,
		`publish stream A "[gopeft: 2.0 KiB of output dropped after the first 10 bytes]\n"`,
		`history 1 "12345678`+"90abc"+strings.Repeat("y", 2000)+`"`, "reply execute_reply A ok 1", "forward status A idle")

	// A multi-byte rune is not split, and the next cell starts from zero.
	b := execReq("B", "b", nil)
	q.Execute("shell", b, "b", "")
	e = &engine1{t: t, q: q, req: b}
	outs = e.stream("stdout", "123456789é")
	if got := describe(outs)[0]; got != `publish stream B "123456789"` {
		t.Fatalf("cut inside a rune: %q", got)
	}
}

func TestQueueOutputMemoryBounded(t *testing.T) {
	q := testQueue()
	q.outputLimit = 1 << 10
	a := execReq("A", "a", nil)
	q.Execute("shell", a, "a", "")
	e := &engine1{t: t, q: q, req: a}
	chunk := strings.Repeat("z", 32<<10)
	for i := 0; i < 200; i++ { // 6.4 MB of each
		e.stream("stdout", chunk)
		e.stream("stderr", chunk)
	}
	cl := q.running
	if cl.stdout.Len() > maxHistoryOutput+len(chunk) || cl.stderr.Len() > maxStderr+len(chunk) {
		t.Fatalf("kept %d bytes of stdout and %d of stderr", cl.stdout.Len(), cl.stderr.Len())
	}
}

func TestCellErrorFatalSignal(t *testing.T) {
	stderr := "SIGSEGV: segmentation violation\nPC=0x42e59d m=2 sigcode=1 addr=0x0\n\ngoroutine 0 gp=0x5841a0 m=0 mp=0x584f60 [idle]:\n" +
		"runtime.(*spanQueue).tryDrain(0x7fff00000400?, 0x436d25?)\n\t/usr/local/go/src/runtime/mgcmark_greenteagc.go:520 +0x5d fp=0x7fff89a80bd0 sp=0x7fff89a80bb0 pc=0x42e59d\n"
	ename, evalue, tb := cellError(cellFailure{Exit: "exit status 2\n", Stderr: stderr, Count: 1})
	if ename != "FatalError" || evalue != "SIGSEGV: segmentation violation" {
		t.Fatalf("got %s: %s", ename, evalue)
	}
	for _, l := range tb {
		if strings.Contains(l, "mgcmark_greenteagc.go") {
			t.Fatalf("runtime frame kept: %q", tb)
		}
	}
	if crashAt(stderr, true) != 0 {
		t.Fatal("a fatal signal's dump is not held as a crash report")
	}
}
