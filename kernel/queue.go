package kernel

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// cellQueue is the life of execute_requests, from the client's request to the
// idle status after its reply, as a pure state machine: events go in as method
// calls, and what to send comes back as a list of outs, in order. It holds no
// sockets, starts no goroutines and reads no clock (new messages come from
// mint); the caller serialises calls and sends the outs.
//
// Cells run one at a time: the running one is at GoNB, the rest wait here, so
// that a failing cell can answer the queued ones "aborted" (Run All stops at
// the error) before GoNB ever sees them. The queue also owns execution_count,
// following the protocol: only a stored cell (store_history true, not silent)
// takes the next number.
type cellQueue struct {
	// mint makes a new message of msgType under parent (header, id, date).
	mint func(msgType string, parent *Message, content any) *Message
	// explain turns a failed cell program (the exit line GoNB reports on
	// stderr, and the cell's stderr) into a Jupyter error.
	explain func(f cellFailure) (ename, evalue string, traceback []string)

	// outputLimit bounds the stream text (stdout and stderr) one cell sends
	// to the client; 0 = unlimited.
	outputLimit int64

	count   int // execution_count of the last stored cell
	running *cell
	queued  []*cell
	closed  bool // after EngineDied or Shutdown: cells are no longer run
}

// cellFailure is what explain gets about a cell whose program failed.
type cellFailure struct {
	Exit        string // GoNB's exit line, e.g. "exit status 2\n"
	Stderr      string // everything the cell wrote to stderr, exit line excluded
	Code        string // the cell as the client sent it
	Count       int    // its execution_count
	Interrupted bool   // an interrupt arrived while it ran
}

// outKind says where an out goes.
type outKind int

const (
	outReply   outKind = iota // msg to the requesting client on channel (msg.Identities route it)
	outPublish                // msg is new: publish on iopub under the kernel's topic
	outForward                // msg came from GoNB's iopub: republish with its topic
	outEngine                 // msg to GoNB on channel
	outHistory                // a stored cell finished: record count, code and output
	outSweep                  // the cell (msg) has ended: kill what it left running, say so under msg
)

// out is one thing the caller of cellQueue must do.
type out struct {
	kind    outKind
	channel string // outReply and outEngine: "shell" or "control"
	msg     *Message
	// outHistory only:
	count        int
	code, output string
}

// cell is one execute_request.
type cell struct {
	req      *Message // as the client sent it
	fwd      *Message // as GoNB gets it (magics blanked, fields normalised)
	channel  string
	code     string
	magicOut string // output of the kernel's own magics, published after execute_input

	store, silent, stopOnError bool
	count                      int // set when it starts

	interrupted bool // an interrupt arrived while it ran
	cancelled   bool // an interrupt arrived while it was queued: it will not run

	stdout, stderr strings.Builder
	heldExit       *Message // GoNB's "exit status N" stream, held to decide the status
	reply          *Message // GoNB's execute_reply, held until its idle status
	idle           *Message

	// stderr is forwarded as it comes, except a crash report: from its first
	// line it is held, so that a panic reaches the client once, as the error
	// (not also as a raw goroutine dump with temp paths).
	errLineStart bool   // the next stderr text begins a line
	errTail      string // a line start that may become "panic: "
	crashing     bool
	crash        []out
	crashSize    int

	// Output limit: bytes of stream text sent, and dropped after the limit.
	shown, dropped int64
	stderrCut      bool // cl.stderr stopped recording at maxStderr

	compile   []string       // GoNB's compile report, read by compileReport
	engineErr map[string]any // GoNB's own error as rewritten, for its reply too
}

// maxCrash bounds the stderr held as a crash report: a program that printed
// "panic: " itself and carries on writing gets its stderr back.
const maxCrash = 1 << 20

// maxStderr and maxHistoryOutput bound what a cell's output costs the
// kernel's memory, whatever it prints: the stderr kept to explain a failure
// (a crash report is kept whole, up to maxCrash) and the stdout kept for
// history_request's output=True.
const (
	maxStderr        = 1 << 20
	maxHistoryOutput = 64 << 10
)

func newCellQueue(mint func(string, *Message, any) *Message, explain func(cellFailure) (string, string, []string)) *cellQueue {
	return &cellQueue{mint: mint, explain: explain}
}

// Execute takes a client's execute_request. engineCode is the code GoNB
// gets (the kernel's magics blanked) and magicOut their output. The cell
// starts now when nothing runs, else it waits.
func (q *cellQueue) Execute(channel string, m *Message, engineCode, magicOut string) []out {
	c := m.Content()
	cl := &cell{req: m, channel: channel, magicOut: magicOut, store: true, stopOnError: true, errLineStart: true}
	cl.code, _ = c["code"].(string)
	cl.silent, _ = c["silent"].(bool)
	if v, ok := c["store_history"].(bool); ok {
		cl.store = v
	}
	if cl.silent {
		cl.store = false // the protocol: silent forces store_history off
	}
	if v, ok := c["stop_on_error"].(bool); ok {
		cl.stopOnError = v
	}
	// GoNB counts a cell when store_history is set, and panics on a missing
	// silent or store_history: give it the fields as this queue reads them,
	// so its "Cell [n]" annotations match our execution_count.
	c["code"], c["silent"], c["store_history"] = engineCode, cl.silent, cl.store
	fwd := *m
	fwd.Identities = nil
	fwd.setContent(c)
	cl.fwd = &fwd
	switch {
	case q.closed:
		return q.abort(cl)
	case q.running == nil:
		return q.start(cl)
	}
	q.queued = append(q.queued, cl)
	return nil
}

func (q *cellQueue) start(cl *cell) []out {
	if cl.store {
		q.count++
	}
	cl.count = q.count
	q.running = cl
	return []out{{kind: outEngine, channel: cl.channel, msg: cl.fwd}}
}

// abort answers a cell that will not run.
func (q *cellQueue) abort(cl *cell) []out {
	return []out{
		q.publish("status", cl.req, map[string]any{"execution_state": "busy"}),
		{kind: outReply, channel: cl.channel, msg: q.mint("execute_reply", cl.req, map[string]any{"status": "aborted", "execution_count": nil})},
		q.publish("status", cl.req, map[string]any{"execution_state": "idle"}),
	}
}

func (q *cellQueue) publish(msgType string, parent *Message, content any) out {
	return out{kind: outPublish, msg: q.mint(msgType, parent, content)}
}

// owns reports whether m answers the running cell.
func (q *cellQueue) owns(m *Message) bool {
	return q.running != nil && m.ParentID() == q.running.req.Header.MsgID
}

// Running returns the running cell's request, or nil.
func (q *cellQueue) Running() *Message {
	if q.running == nil {
		return nil
	}
	return q.running.req
}

// IsRunning reports whether the cell with request id msgID is still running.
func (q *cellQueue) IsRunning(msgID string) bool {
	return q.running != nil && q.running.req.Header.MsgID == msgID
}

// EngineReply takes an execute_reply from GoNB; false when it is not the
// running cell's (the caller routes it). The reply is held until GoNB's idle
// status, when every output of the cell has been seen.
func (q *cellQueue) EngineReply(m *Message) ([]out, bool) {
	if !q.owns(m) || m.Header.MsgType != "execute_reply" {
		return nil, false
	}
	q.running.reply = m
	if q.running.idle == nil {
		return nil, true
	}
	return q.finish(), true
}

// EngineIOPub takes a message from GoNB's iopub; false when it is not about
// the running cell (the caller forwards it unchanged).
func (q *cellQueue) EngineIOPub(m *Message) ([]out, bool) {
	if !q.owns(m) {
		return nil, false
	}
	cl := q.running
	outs, done := q.engineIOPub(cl, m)
	if done {
		return outs, true // finish capped them
	}
	return q.capOutput(cl, outs), true
}

// engineIOPub is EngineIOPub for the running cell; done says the cell
// finished (the outs are finish's).
func (q *cellQueue) engineIOPub(cl *cell, m *Message) (_ []out, done bool) {
	var outs []out
	forward := func(m *Message) { outs = append(outs, out{kind: outForward, msg: m}) }
	flushExit := func() {
		if cl.heldExit != nil {
			forward(cl.heldExit)
			cl.heldExit = nil
		}
	}
	c := m.Content()
	switch m.Header.MsgType {
	case "status":
		if c["execution_state"] == "idle" {
			cl.idle = m
			if cl.reply != nil {
				return q.finish(), true
			}
			return nil, false
		}
		forward(m)
	case "stream":
		text, _ := c["text"].(string)
		if c["name"] == "stderr" && exitLine.MatchString(text) {
			// Only the last such line is the program's exit; an earlier
			// one was output.
			flushExit()
			cl.heldExit = m
			return outs, false
		}
		flushExit()
		if c["name"] == "stderr" {
			outs = append(outs, q.stderrOut(cl, m, text)...)
			recordStderr(cl, text)
			return outs, false
		}
		// A program still writing output did not crash.
		outs = append(outs, q.release(cl)...)
		if cl.stdout.Len() < maxHistoryOutput {
			cl.stdout.WriteString(text)
		}
		forward(m)
	case "display_data", "update_display_data":
		flushExit()
		outs = append(outs, q.release(cl)...)
		if data, ok := c["data"].(map[string]any); ok {
			h, _ := data["text/html"].(string)
			if entries := compileReport(h); entries != nil {
				// nbconvert, CI logs and consoles read text/plain.
				cl.compile = append(cl.compile, entries...)
				data["text/plain"] = strings.Join(entries, "\n")
				m.setContent(c)
			}
		}
		forward(m)
	case "error":
		// GoNB's own errors: a cell that does not build, a failed magic.
		flushExit()
		if len(cl.compile) > 0 {
			ename, evalue, tb := compileError(cl.compile)
			c = map[string]any{"ename": ename, "evalue": evalue, "traceback": tb}
		} else {
			withoutTempPaths(c)
		}
		cl.engineErr = c
		m.setContent(c)
		forward(m)
	case "execute_input":
		flushExit()
		c["execution_count"], c["code"] = cl.count, cl.code
		m.setContent(c)
		forward(m)
		if cl.magicOut != "" {
			outs = append(outs, q.publish("execute_result", cl.req, map[string]any{
				"execution_count": cl.count,
				"data":            map[string]any{"text/plain": cl.magicOut},
				"metadata":        map[string]any{},
			}))
			cl.stdout.WriteString(cl.magicOut)
		}
	case "execute_result":
		flushExit()
		c["execution_count"] = cl.count
		m.setContent(c)
		forward(m)
	default:
		flushExit()
		forward(m)
	}
	return outs, false
}

// finish runs once GoNB has both replied and gone idle: a cell whose program
// failed becomes an error (published, then replied), the queue is settled,
// the idle status goes out after the reply, then the aborted cells' answers,
// then the next cell starts.
func (q *cellQueue) finish() []out {
	cl := q.running
	// The program has ended (GoNB replied): what it left running goes before
	// the client hears the cell is done.
	outs := []out{{kind: outSweep, msg: cl.req}}
	reply := cl.reply
	c := reply.Content()
	if c["status"] == "ok" && cl.heldExit != nil {
		text, _ := cl.heldExit.Content()["text"].(string)
		f := cellFailure{Exit: text, Stderr: cl.stderr.String(), Code: cl.code, Interrupted: cl.interrupted}
		if cl.store {
			f.Count = cl.count
		}
		ename, evalue, tb := q.explain(f)
		if ename == "panic" || ename == "FatalError" {
			cl.crash = nil // the error carries it
		}
		outs = append(outs, q.capOutput(cl, q.release(cl))...)
		outs = append(outs, q.dropNotice(cl)...)
		outs = append(outs, q.publish("error", cl.req, map[string]any{"ename": ename, "evalue": evalue, "traceback": tb}))
		c["status"], c["ename"], c["evalue"], c["traceback"] = "error", ename, evalue, tb
		delete(c, "user_expressions")
	} else {
		var streams []out
		streams = append(streams, q.release(cl)...)
		if cl.heldExit != nil {
			streams = append(streams, out{kind: outForward, msg: cl.heldExit})
		}
		outs = append(outs, q.capOutput(cl, streams)...)
		outs = append(outs, q.dropNotice(cl)...)
		if c["status"] == "error" {
			e := cl.engineErr
			if e == nil { // GoNB replied an error it did not publish
				e = map[string]any{"ename": c["ename"], "evalue": c["evalue"], "traceback": c["traceback"]}
				if len(cl.compile) > 0 {
					ename, evalue, tb := compileError(cl.compile)
					e = map[string]any{"ename": ename, "evalue": evalue, "traceback": tb}
				} else {
					withoutTempPaths(e)
				}
			}
			for k, v := range e {
				c[k] = v
			}
		}
	}
	c["execution_count"] = cl.count
	reply.setContent(c)
	reply.Identities = cl.req.Identities
	if cl.store {
		outs = append(outs, out{kind: outHistory, count: cl.count, code: cl.code, output: cl.stdout.String()})
	}
	// Settle the queue before replying: a cell the client sends after seeing
	// this reply must run, not be aborted with the ones queued behind it.
	var aborted, keep []*cell
	for _, w := range q.queued {
		if w.cancelled || (c["status"] == "error" && cl.stopOnError) {
			aborted = append(aborted, w)
		} else {
			keep = append(keep, w)
		}
	}
	q.queued, q.running = keep, nil
	outs = append(outs, out{kind: outReply, channel: cl.channel, msg: reply}, out{kind: outForward, msg: cl.idle})
	for _, a := range aborted {
		outs = append(outs, q.abort(a)...)
	}
	if len(q.queued) > 0 {
		next := q.queued[0]
		q.queued = q.queued[1:]
		outs = append(outs, q.start(next)...)
	}
	return outs
}

// Interrupt marks the running cell interrupted (its failure then reads as
// KeyboardInterrupt) and cancels the cells queued behind it: the user stopped
// this run, whatever their stop_on_error. Cells sent after the interrupt run.
// It returns the running cell's request, nil when none runs (then nothing is
// queued either), so the caller knows whether to signal GoNB.
func (q *cellQueue) Interrupt() *Message {
	if q.running == nil {
		return nil
	}
	q.running.interrupted = true
	for _, w := range q.queued {
		w.cancelled = true
	}
	return q.running.req
}

// EngineDied answers every cell: GoNB is gone, so the running one fails and
// the queued ones are aborted; later cells are aborted at once.
func (q *cellQueue) EngineDied() []out {
	return q.drain("EngineDied", "the GoNB engine exited while the cell ran; restart the kernel")
}

// Shutdown answers every cell before the kernel stops (a shutdown_request):
// the running one fails, the queued ones are aborted.
func (q *cellQueue) Shutdown() []out {
	return q.drain("KernelShutdown", "the kernel shut down while the cell ran")
}

func (q *cellQueue) drain(ename, evalue string) []out {
	if q.closed {
		return nil
	}
	q.closed = true
	var outs []out
	if cl := q.running; cl != nil {
		var streams []out
		streams = append(streams, q.release(cl)...)
		if cl.heldExit != nil {
			streams = append(streams, out{kind: outForward, msg: cl.heldExit})
		}
		outs = append(outs, q.capOutput(cl, streams)...)
		outs = append(outs, q.dropNotice(cl)...)
		tb := []string{errorHeader(ename, evalue)}
		outs = append(outs, q.publish("error", cl.req, map[string]any{"ename": ename, "evalue": evalue, "traceback": tb}))
		outs = append(outs, out{kind: outReply, channel: cl.channel, msg: q.mint("execute_reply", cl.req, map[string]any{
			"status": "error", "execution_count": cl.count, "ename": ename, "evalue": evalue, "traceback": tb})})
		if cl.idle != nil {
			outs = append(outs, out{kind: outForward, msg: cl.idle})
		} else {
			outs = append(outs, q.publish("status", cl.req, map[string]any{"execution_state": "idle"}))
		}
		q.running = nil
	}
	for _, w := range q.queued {
		outs = append(outs, q.abort(w)...)
	}
	q.queued = nil
	return outs
}

// stderrOut forwards a stderr stream of the cell, unless it is (or begins) a
// crash report: that is held from its first line on. A split stream goes out
// as new messages.
func (q *cellQueue) stderrOut(cl *cell, m *Message, text string) []out {
	if cl.crashing {
		cl.crash = append(cl.crash, out{kind: outForward, msg: m})
		cl.crashSize += len(text)
		if cl.crashSize > maxCrash {
			outs := q.release(cl)
			cl.errLineStart = strings.HasSuffix(text, "\n")
			return outs
		}
		return nil
	}
	s := cl.errTail + text
	cl.errTail = ""
	part := func(t string) out {
		if t == text {
			return out{kind: outForward, msg: m}
		}
		return q.publish("stream", cl.req, map[string]any{"name": "stderr", "text": t})
	}
	var outs []out
	if i := crashAt(s, cl.errLineStart); i >= 0 {
		if i > 0 {
			outs = append(outs, part(s[:i]))
		}
		cl.crashing, cl.crashSize = true, len(s)-i
		cl.crash = append(cl.crash, part(s[i:]))
		return outs
	}
	// Hold a line start that may still become "panic: ".
	cut := len(s)
	if nl := strings.LastIndexByte(s, '\n'); nl >= 0 || cl.errLineStart {
		if crashPrefix(s[nl+1:]) {
			cut = nl + 1
		}
	}
	cl.errTail = s[cut:]
	if cut == 0 {
		return nil
	}
	cl.errLineStart = s[cut-1] == '\n'
	return append(outs, part(s[:cut]))
}

// release sends the cell's held stderr: a crash report that turned out not
// to be one, or a held line start.
func (q *cellQueue) release(cl *cell) []out {
	var outs []out
	if cl.errTail != "" {
		outs = append(outs, q.publish("stream", cl.req, map[string]any{"name": "stderr", "text": cl.errTail}))
		cl.errLineStart = false
		cl.errTail = ""
	}
	outs = append(outs, cl.crash...)
	cl.crash, cl.crashing, cl.crashSize = nil, false, 0
	return outs
}

// Requester returns the request of the running cell that m (GoNB's
// input_request) is about, or nil.
func (q *cellQueue) Requester(m *Message) *Message {
	if !q.owns(m) {
		return nil
	}
	return q.running.req
}

// recordStderr keeps a cell's stderr for explaining its failure, bounded: a
// crash report is kept whole (it is bounded by maxCrash), other text up to
// maxStderr.
func recordStderr(cl *cell, text string) {
	if cl.crashing || cl.stderr.Len() < maxStderr {
		if cl.stderrCut {
			cl.stderr.WriteString("\n")
			cl.stderrCut = false
		}
		cl.stderr.WriteString(text)
		return
	}
	cl.stderrCut = true
}

// capOutput applies outputLimit to the cell's stream messages among outs: up
// to the limit they pass, the one that crosses it is cut there (followed by
// a notice), later ones are dropped and counted for dropNotice.
func (q *cellQueue) capOutput(cl *cell, outs []out) []out {
	if q.outputLimit <= 0 {
		return outs
	}
	kept := outs[:0:0]
	for _, o := range outs {
		if (o.kind != outForward && o.kind != outPublish) || o.msg.Header.MsgType != "stream" {
			kept = append(kept, o)
			continue
		}
		c := o.msg.Content()
		text, _ := c["text"].(string)
		n := int64(len(text))
		switch {
		case cl.dropped > 0:
			cl.dropped += n
		case cl.shown+n <= q.outputLimit:
			cl.shown += n
			kept = append(kept, o)
		default:
			cut := int(q.outputLimit - cl.shown)
			for cut > 0 && !utf8.RuneStart(text[cut]) {
				cut--
			}
			if cut > 0 {
				kept = append(kept, q.publish("stream", cl.req, map[string]any{"name": c["name"], "text": text[:cut]}))
			}
			cl.shown += int64(cut)
			cl.dropped += n - int64(cut)
			kept = append(kept, q.publish("stream", cl.req, map[string]any{"name": "stderr", "text": fmt.Sprintf(
				"\n[gopeft: this cell's output reached %s; the rest is not sent to the notebook (GOPEFT_CELL_OUTPUT_LIMIT)]\n",
				formatSize(q.outputLimit))}))
		}
	}
	return kept
}

// dropNotice says, once the cell is over, how much output was dropped.
func (q *cellQueue) dropNotice(cl *cell) []out {
	if cl.dropped == 0 {
		return nil
	}
	return []out{q.publish("stream", cl.req, map[string]any{"name": "stderr", "text": fmt.Sprintf(
		"[gopeft: %s of output dropped after the first %s]\n", formatSize(cl.dropped), formatSize(cl.shown))})}
}
