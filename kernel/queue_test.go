package kernel

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// testQueue is a cellQueue with deterministic message ids and the real
// explain.
func testQueue() *cellQueue {
	n := 0
	return newCellQueue(func(msgType string, parent *Message, content any) *Message {
		n++
		h := Header{MsgID: fmt.Sprintf("k%d", n), Session: "kernel", MsgType: msgType, Version: ProtocolVersion}
		m := &Message{Header: h, RawParent: []byte("{}"), RawMeta: []byte("{}")}
		m.RawHeader, _ = json.Marshal(h)
		if parent != nil {
			m.RawParent, m.Identities = parent.RawHeader, parent.Identities
		}
		m.RawContent, _ = json.Marshal(content)
		return m
	}, cellError)
}

// msg builds a message with id under parent (nil for a client request).
func msg(id, msgType string, parent *Message, content map[string]any) *Message {
	h := Header{MsgID: id, Session: "s", MsgType: msgType, Version: ProtocolVersion}
	m := &Message{Header: h, RawParent: []byte("{}"), RawMeta: []byte("{}")}
	m.RawHeader, _ = json.Marshal(h)
	if parent != nil {
		m.RawParent = parent.RawHeader
	} else {
		m.Identities = [][]byte{[]byte("client-" + id)}
	}
	m.setContent(content)
	return m
}

func execReq(id, code string, extra map[string]any) *Message {
	c := map[string]any{"code": code, "silent": false, "store_history": true, "user_expressions": map[string]any{},
		"allow_stdin": false, "stop_on_error": true}
	for k, v := range extra {
		c[k] = v
	}
	return msg(id, "execute_request", nil, c)
}

// describe summarises outs as "kind type parent [detail]" lines (without
// outSweep).
func describe(outs []out) []string {
	var s []string
	for _, o := range outs {
		if o.kind == outHistory {
			s = append(s, fmt.Sprintf("history %d %q", o.count, o.output))
			continue
		}
		if o.kind == outSweep {
			continue // TestQueueSweepsBeforeReply checks where it goes
		}
		kind := map[outKind]string{outReply: "reply", outPublish: "publish", outForward: "forward", outEngine: "engine"}[o.kind]
		var detail string
		c := o.msg.Content()
		switch o.msg.Header.MsgType {
		case "status":
			detail = fmt.Sprint(c["execution_state"])
		case "execute_reply":
			detail = fmt.Sprintf("%v %v", c["status"], c["execution_count"])
		case "error":
			detail = fmt.Sprint(c["ename"])
		case "stream":
			detail = fmt.Sprintf("%q", c["text"])
		case "execute_input", "execute_result":
			detail = fmt.Sprint(c["execution_count"])
		}
		id := o.msg.ParentID()
		if o.kind == outEngine {
			id = o.msg.Header.MsgID
		}
		s = append(s, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", kind, o.msg.Header.MsgType, id, detail)))
	}
	return s
}

func withoutSweep(outs []out) []out {
	var kept []out
	for _, o := range outs {
		if o.kind != outSweep {
			kept = append(kept, o)
		}
	}
	return kept
}

func wantOuts(t *testing.T, what string, outs []out, want ...string) {
	t.Helper()
	if got := describe(outs); !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// engine plays GoNB for the running cell req.
type engine1 struct {
	t   *testing.T
	q   *cellQueue
	req *Message
	n   int
}

func (e *engine1) id() string { e.n++; return fmt.Sprintf("%s-e%d", e.req.Header.MsgID, e.n) }

func (e *engine1) iopub(msgType string, content map[string]any) []out {
	e.t.Helper()
	outs, ok := e.q.EngineIOPub(msg(e.id(), msgType, e.req, content))
	if !ok {
		e.t.Fatalf("queue refused %s for %s", msgType, e.req.Header.MsgID)
	}
	return outs
}

func (e *engine1) stream(name, text string) []out {
	return e.iopub("stream", map[string]any{"name": name, "text": text})
}

func (e *engine1) reply(content map[string]any) []out {
	e.t.Helper()
	outs, ok := e.q.EngineReply(msg(e.id(), "execute_reply", e.req, content))
	if !ok {
		e.t.Fatalf("queue refused the reply for %s", e.req.Header.MsgID)
	}
	return outs
}

// run plays GoNB's messages for a cell up to its reply (busy, execute_input,
// the streams), and returns the outs of the reply and the idle status.
func (e *engine1) run(status string, streams ...string) []out {
	e.iopub("status", map[string]any{"execution_state": "busy"})
	e.iopub("execute_input", map[string]any{"code": "ignored", "execution_count": 99})
	for i := 0; i+1 < len(streams); i += 2 {
		e.stream(streams[i], streams[i+1])
	}
	c := map[string]any{"status": status, "execution_count": 99}
	if status == "error" {
		c["ename"], c["evalue"], c["traceback"] = "ERROR", "compile failed", []string{"compile failed"}
	}
	outs := e.reply(c)
	return append(outs, e.iopub("status", map[string]any{"execution_state": "idle"})...)
}

func TestQueueRunsCellsInOrder(t *testing.T) {
	q := testQueue()
	a, b, c := execReq("A", `fmt.Println("a")`, nil), execReq("B", "b", nil), execReq("C", "c", nil)
	wantOuts(t, "A starts at once", q.Execute("shell", a, "a", ""), "engine execute_request A")
	wantOuts(t, "B waits", q.Execute("shell", b, "b", ""))
	wantOuts(t, "C waits", q.Execute("shell", c, "c", ""))
	e := &engine1{t: t, q: q, req: a}
	wantOuts(t, "busy is forwarded", e.iopub("status", map[string]any{"execution_state": "busy"}), "forward status A busy")
	wantOuts(t, "execute_input gets the kernel's count", e.iopub("execute_input", map[string]any{"code": "a", "execution_count": 7}),
		"forward execute_input A 1")
	wantOuts(t, "output is forwarded", e.stream("stdout", "a\n"), `forward stream A "a\n"`)
	wantOuts(t, "the reply waits for idle", e.reply(map[string]any{"status": "ok", "execution_count": 7}))
	wantOuts(t, "idle finishes A and starts B", e.iopub("status", map[string]any{"execution_state": "idle"}),
		`history 1 "a\n"`, "reply execute_reply A ok 1", "forward status A idle", "engine execute_request B")
	// Idle before the reply (the sockets race): the reply finishes the cell.
	e = &engine1{t: t, q: q, req: b}
	e.iopub("status", map[string]any{"execution_state": "busy"})
	wantOuts(t, "idle first is held", e.iopub("status", map[string]any{"execution_state": "idle"}))
	wantOuts(t, "the reply then finishes B", e.reply(map[string]any{"status": "ok"}),
		`history 2 ""`, "reply execute_reply B ok 2", "forward status B idle", "engine execute_request C")
	e = &engine1{t: t, q: q, req: c}
	wantOuts(t, "C finishes, nothing next", e.run("ok"), `history 3 ""`, "reply execute_reply C ok 3", "forward status C idle")
	if q.Running() != nil {
		t.Fatal("a cell still runs after the last reply")
	}
}

func TestQueueAbortsQueuedCellsAfterError(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(e *engine1) []out
		want []string
	}{
		{"panic", func(e *engine1) []out {
			return e.run("ok", "stderr", "panic: boom\n\ngoroutine 1 [running]:\n", "stderr", "exit status 2\n")
		}, []string{"publish error A panic"}},
		{"compile error", func(e *engine1) []out { return e.run("error") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := testQueue()
			a := execReq("A", "a", nil)
			q.Execute("shell", a, "a", "")
			q.Execute("shell", execReq("B", "b", nil), "b", "")
			q.Execute("control", execReq("C", "c", nil), "c", "")
			want := append(tc.want, `history 1 ""`, "reply execute_reply A error 1", "forward status A idle",
				"publish status B busy", "reply execute_reply B aborted <nil>", "publish status B idle",
				"publish status C busy", "reply execute_reply C aborted <nil>", "publish status C idle")
			outs := tc.run(&engine1{t: t, q: q, req: a})
			wantOuts(t, "A fails", outs, want...)
			if outs[len(outs)-2].channel != "control" {
				t.Fatal("C's aborted reply is not on the channel C came on")
			}
			// Aborted cells took no execution_count.
			d := execReq("D", "d", nil)
			wantOuts(t, "D runs", q.Execute("shell", d, "d", ""), "engine execute_request D")
			wantOuts(t, "D's count follows A's", (&engine1{t: t, q: q, req: d}).run("ok"),
				`history 2 ""`, "reply execute_reply D ok 2", "forward status D idle")
		})
	}
}

func TestQueueStopOnErrorFalseRunsLaterCells(t *testing.T) {
	q := testQueue()
	a := execReq("A", "a", map[string]any{"stop_on_error": false})
	q.Execute("shell", a, "a", "")
	q.Execute("shell", execReq("B", "b", nil), "b", "")
	outs := (&engine1{t: t, q: q, req: a}).run("ok", "stderr", "exit status 3\n")
	wantOuts(t, "A fails, B still runs", outs, "publish error A ExitError", `history 1 ""`,
		"reply execute_reply A error 1", "forward status A idle", "engine execute_request B")
}

func TestQueueCellSentRightAfterErrorRuns(t *testing.T) {
	q := testQueue()
	a := execReq("A", "a", nil)
	q.Execute("shell", a, "a", "")
	q.Execute("shell", execReq("B", "b", nil), "b", "")
	outs := (&engine1{t: t, q: q, req: a}).run("error")
	// The queue is settled by the time the reply goes out: a cell the
	// client sends on seeing it starts, it is not aborted with B.
	if q.Running() != nil || len(q.queued) != 0 {
		t.Fatalf("queue not settled after the error: running %v, %d queued", q.Running(), len(q.queued))
	}
	if got := describe(outs); got[1] != "reply execute_reply A error 1" {
		t.Fatalf("outs %q", got)
	}
	wantOuts(t, "the next cell runs", q.Execute("shell", execReq("C", "c", nil), "c", ""), "engine execute_request C")
}

func TestQueueInterrupt(t *testing.T) {
	q := testQueue()
	if q.Interrupt() != nil {
		t.Fatal("interrupt with nothing running named a cell")
	}
	// stop_on_error=false does not save the cells queued at the interrupt.
	a := execReq("A", "a", map[string]any{"stop_on_error": false})
	q.Execute("shell", a, "a", "")
	q.Execute("shell", execReq("B", "b", nil), "b", "")
	if r := q.Interrupt(); r != a {
		t.Fatalf("interrupt named %v, want the running cell A", r)
	}
	if !q.IsRunning("A") {
		t.Fatal("A no longer running right after the interrupt (the kernel kills it only while it runs)")
	}
	// A cell sent after the interrupt, while A winds down, runs.
	q.Execute("shell", execReq("C", "c", nil), "c", "")
	outs := (&engine1{t: t, q: q, req: a}).run("ok", "stderr", "^C\nsignal: interrupt\n")
	wantOuts(t, "A interrupted", outs, "publish error A KeyboardInterrupt", `history 1 ""`,
		"reply execute_reply A error 1", "forward status A idle",
		"publish status B busy", "reply execute_reply B aborted <nil>", "publish status B idle",
		"engine execute_request C")
	if q.IsRunning("A") {
		t.Fatal("A still running after its reply")
	}
	// A program that exits with a plain status after an interrupt still
	// reads as interrupted.
	c := q.Running()
	q.Interrupt()
	outs = (&engine1{t: t, q: q, req: c}).run("ok", "stderr", "exit status 1\n")
	if got := describe(outs); got[0] != "publish error C KeyboardInterrupt" {
		t.Fatalf("interrupted cell exiting 1: %q", got)
	}
}

func TestQueueExecutionCount(t *testing.T) {
	q := testQueue()
	run := func(id string, extra map[string]any) (fwd map[string]any, outs []out) {
		t.Helper()
		r := execReq(id, "x", extra)
		start := q.Execute("shell", r, "x", "")
		if len(start) != 1 || start[0].kind != outEngine {
			t.Fatalf("%s did not start: %q", id, describe(start))
		}
		return start[0].msg.Content(), (&engine1{t: t, q: q, req: r}).run("ok")
	}
	_, outs := run("A", nil)
	wantOuts(t, "stored cell", outs, `history 1 ""`, "reply execute_reply A ok 1", "forward status A idle")
	fwd, outs := run("B", map[string]any{"silent": true})
	if fwd["store_history"] != false || fwd["silent"] != true {
		t.Fatalf("silent cell forwarded as %v: GoNB would count it", fwd)
	}
	wantOuts(t, "silent cell: no new count, no history", outs, "reply execute_reply B ok 1", "forward status B idle")
	_, outs = run("C", map[string]any{"store_history": false})
	wantOuts(t, "store_history=false: no new count", outs, "reply execute_reply C ok 1", "forward status C idle")
	// A client that leaves the fields out gets the protocol's defaults, and
	// GoNB (which panics on a missing field) gets them spelt out.
	r := msg("D", "execute_request", nil, map[string]any{"code": "x"})
	start := q.Execute("shell", r, "x", "")
	if c := start[0].msg.Content(); c["silent"] != false || c["store_history"] != true {
		t.Fatalf("defaults forwarded as %v", c)
	}
	wantOuts(t, "defaults store the cell", (&engine1{t: t, q: q, req: r}).run("ok"),
		`history 2 ""`, "reply execute_reply D ok 2", "forward status D idle")
}

func TestQueueRewritesInputAndMagicOutput(t *testing.T) {
	q := testQueue()
	a := execReq("A", "%backend\nfmt.Println(1)", nil)
	start := q.Execute("shell", a, "\nfmt.Println(1)", "backend: go")
	if got := start[0].msg.Content()["code"]; got != "\nfmt.Println(1)" {
		t.Fatalf("GoNB got %q, want the magic blanked", got)
	}
	e := &engine1{t: t, q: q, req: a}
	outs := e.iopub("execute_input", map[string]any{"code": "\nfmt.Println(1)", "execution_count": 5})
	wantOuts(t, "execute_input then the magic's result", outs, "forward execute_input A 1", "publish execute_result A 1")
	if got := outs[0].msg.Content()["code"]; got != a.Content()["code"] {
		t.Fatalf("execute_input code %q, want the cell as the client sent it", got)
	}
	if got := outs[1].msg.Content()["data"].(map[string]any)["text/plain"]; got != "backend: go" {
		t.Fatalf("magic result %v", got)
	}
	wantOuts(t, "GoNB's execute_result gets the count", e.iopub("execute_result", map[string]any{"execution_count": 5, "data": map[string]any{}}),
		"forward execute_result A 1")
	outs = e.reply(map[string]any{"status": "ok"})
	outs = append(outs, e.iopub("status", map[string]any{"execution_state": "idle"})...)
	wantOuts(t, "history keeps the magic's output", outs, `history 1 "backend: go"`, "reply execute_reply A ok 1", "forward status A idle")
}

func TestQueueExitLineHeldUntilLast(t *testing.T) {
	q := testQueue()
	a := execReq("A", "a", nil)
	q.Execute("shell", a, "a", "")
	e := &engine1{t: t, q: q, req: a}
	wantOuts(t, "an exit-like line is held", e.stream("stderr", "exit status 1\n"))
	wantOuts(t, "and forwarded when more output follows", e.stream("stdout", "more\n"),
		`forward stream A "exit status 1\n"`, `forward stream A "more\n"`)
	e.stream("stderr", "exit status 1\n")
	outs := e.reply(map[string]any{"status": "error", "ename": "ERROR", "evalue": "x", "traceback": []string{}})
	outs = append(outs, e.iopub("status", map[string]any{"execution_state": "idle"})...)
	wantOuts(t, "GoNB's own error keeps the held line as output", outs,
		`forward stream A "exit status 1\n"`, `history 1 "more\n"`, "reply execute_reply A error 1", "forward status A idle")
}

func TestQueueEngineDiedAndShutdown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drain func(q *cellQueue) []out
		ename string
	}{
		{"engine died", (*cellQueue).EngineDied, "EngineDied"},
		{"shutdown", (*cellQueue).Shutdown, "KernelShutdown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := testQueue()
			a := execReq("A", "a", nil)
			q.Execute("shell", a, "a", "")
			q.Execute("shell", execReq("B", "b", nil), "b", "")
			(&engine1{t: t, q: q, req: a}).iopub("status", map[string]any{"execution_state": "busy"})
			wantOuts(t, "every cell is answered", tc.drain(q),
				"publish error A "+tc.ename, "reply execute_reply A error 1", "publish status A idle",
				"publish status B busy", "reply execute_reply B aborted <nil>", "publish status B idle")
			wantOuts(t, "draining twice sends nothing", tc.drain(q))
			wantOuts(t, "a later cell is aborted", q.Execute("shell", execReq("C", "c", nil), "c", ""),
				"publish status C busy", "reply execute_reply C aborted <nil>", "publish status C idle")
			if _, ok := q.EngineIOPub(msg("late", "stream", a, map[string]any{"name": "stdout", "text": "x"})); ok {
				t.Fatal("a late message of the drained cell was taken")
			}
		})
	}
}

func TestQueueLeavesOtherMessagesToTheCaller(t *testing.T) {
	q := testQueue()
	other := msg("X", "complete_request", nil, map[string]any{})
	if _, ok := q.EngineIOPub(msg("s", "status", other, map[string]any{"execution_state": "busy"})); ok {
		t.Fatal("took iopub of a request that is not a cell")
	}
	a := execReq("A", "a", nil)
	q.Execute("shell", a, "a", "")
	if _, ok := q.EngineReply(msg("r", "complete_reply", other, map[string]any{})); ok {
		t.Fatal("took another request's reply")
	}
	if q.Requester(msg("i", "input_request", a, map[string]any{})) != a {
		t.Fatal("input_request of the running cell not routed to its client")
	}
	if q.Requester(msg("i", "input_request", other, map[string]any{})) != nil {
		t.Fatal("input_request of another request routed to the running cell")
	}
}

// A panic reaches the client once, as the error: the runtime's report,
// written in small pieces, is held from its first line and dropped; what
// the cell wrote before it is forwarded, split off a shared stream.
func TestQueuePanicIsOneError(t *testing.T) {
	q := testQueue()
	a := execReq("A", "%%\npanic(\"boom\")", nil)
	q.Execute("shell", a, "", "")
	e := &engine1{t: t, q: q, req: a}
	wantOuts(t, "a progress line is forwarded at once", e.stream("stderr", "step 1\r"), `forward stream A "step 1\r"`)
	wantOuts(t, "the rest of the line too", e.stream("stderr", " done\n"), `forward stream A " done\n"`)
	wantOuts(t, "a line start that may become a panic is held", e.stream("stderr", "log\npa"), `publish stream A "log\n"`)
	wantOuts(t, "it is one", e.stream("stderr", "nic: "))
	for _, s := range []string{"boom", "\n", "\n", "goroutine ", "1", " [running]:\n", "main.main()\n", "\t/tmp/gopeft-kernel-1/gonb_a/main.go:9 +0x25\n"} {
		wantOuts(t, "the report is held", e.stream("stderr", s))
	}
	e.stream("stderr", "exit status 2\n")
	outs := e.reply(map[string]any{"status": "ok"})
	outs = append(outs, e.iopub("status", map[string]any{"execution_state": "idle"})...)
	wantOuts(t, "only the error", outs, "publish error A panic", `history 1 ""`, "reply execute_reply A error 1", "forward status A idle")
	outs = withoutSweep(outs)
	tb := outs[0].msg.Content()["traceback"].([]any)
	if len(tb) != 3 || tb[2] != "main.main()\n\tmain.go:9" {
		t.Fatalf("traceback %q", tb)
	}
	if r := outs[2].msg.Content(); r["evalue"] != "boom" {
		t.Fatalf("reply %v", r)
	}
}

// Text that looks like a crash but is followed by more output is not one.
func TestQueueCrashLookalikeIsReleased(t *testing.T) {
	q := testQueue()
	a := execReq("A", "a", nil)
	q.Execute("shell", a, "a", "")
	e := &engine1{t: t, q: q, req: a}
	wantOuts(t, "held", e.stream("stderr", "panic: recovered, carrying on\n"))
	wantOuts(t, "released by stdout", e.stream("stdout", "still here\n"),
		`forward stream A "panic: recovered, carrying on\n"`, `forward stream A "still here\n"`)
	wantOuts(t, "a held line start goes out when the cell ends", append(e.stream("stderr", "p"), e.run("ok")...),
		`publish stream A "p"`, `history 1 "still here\n"`, "reply execute_reply A ok 1", "forward status A idle")
}

// A cell that does not build: GoNB's HTML report gains a text/plain form, and
// its error (the go build command line) becomes the compiler's messages.
func TestQueueCompileErrorReadsLikeGo(t *testing.T) {
	q := testQueue()
	a := execReq("A", "%%\nundefinedThing()", nil)
	q.Execute("shell", a, "", "")
	q.Execute("shell", execReq("B", "b", nil), "b", "")
	e := &engine1{t: t, q: q, req: a}
	e.iopub("status", map[string]any{"execution_state": "busy"})
	outs := e.iopub("display_data", map[string]any{"data": map[string]any{"text/html": compileReportHTML}, "metadata": map[string]any{}})
	data := outs[0].msg.Content()["data"].(map[string]any)
	if !strings.HasPrefix(data["text/plain"].(string), "Cell[3] line 2: undefined: undefinedThing\n\tundefinedThing()\n") || data["text/html"] != compileReportHTML {
		t.Fatalf("display_data %v", data["text/plain"])
	}
	gonbErr := `failed to run "/usr/local/go/bin/go build -o /tmp/gopeft-kernel-1/gonb_a/gonb_a": exit status 1`
	outs = e.iopub("error", map[string]any{"ename": "ERROR", "evalue": gonbErr, "traceback": []string{gonbErr}})
	c := outs[0].msg.Content()
	if c["ename"] != "CompileError" || !strings.HasPrefix(c["evalue"].(string), "Cell[3] line 2: undefined: undefinedThing") {
		t.Fatalf("error %v", c)
	}
	outs = e.reply(map[string]any{"status": "error", "ename": "ERROR", "evalue": gonbErr, "traceback": []string{gonbErr}})
	outs = append(outs, e.iopub("status", map[string]any{"execution_state": "idle"})...)
	outs = withoutSweep(outs)
	r := outs[1].msg.Content()
	if r["ename"] != "CompileError" || r["evalue"] != c["evalue"] || fmt.Sprint(r["traceback"]) != fmt.Sprint(c["traceback"]) {
		t.Fatalf("reply %v, error %v", r, c)
	}
	if got := describe(outs); got[3] != "publish status B busy" {
		t.Fatalf("B not aborted after the compile error: %q", got)
	}
}
