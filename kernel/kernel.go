// Package kernel is the gopeft Jupyter kernel: a Go process that speaks the
// Jupyter messaging protocol to the front-end and runs GoNB behind it as its
// Go engine, answering what GoNB does not (is_complete, history, kernel_info)
// and fixing what it gets wrong (failed cells reported as ok, comm_close,
// setup cells for local modules).
package kernel

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Options configure Run.
type Options struct {
	ConnectionFile string
	GoNB           string    // gonb binary; found with FindTool when empty
	Root           string    // GoPEFT source tree; found with FindRoot when empty
	Log            io.Writer // kernel and GoNB logs; stderr when nil
	// Version is reported as implementation_version (cmd/gopeft passes
	// peft.Version; the kernel package does not import the library).
	Version string
	// Backend describes the GoMLX backend for %backend (cmd/gopeft passes
	// one built on peft/backend.Select); EnvBackend when nil.
	Backend func() string
	// InterruptGrace is how long a cell program gets after SIGINT before it
	// is killed (default 1.5 s, so interrupts finish within 2 s).
	InterruptGrace time.Duration
}

type sock struct {
	mu sync.Mutex
	s  zmq4.Socket
}

func (s *sock) send(frames [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s.SendMulti(zmq4.NewMsgFrom(frames...))
}

// request is a client request other than execute_request forwarded to GoNB,
// kept until GoNB answers it.
type request struct {
	msg     *Message
	channel string // "shell" or "control"
}

// Kernel is one running gopeft kernel.
type Kernel struct {
	opts    Options
	ci      *ConnectionInfo
	sig     signer     // the connection file's key: the client's sockets
	esig    signer     // the engine link's own key (GoNB never sees the client's)
	recent  recentSigs // signatures of client messages seen, against replays
	session string
	logger  *log.Logger

	shell, control, stdin, iopub, hb *sock
	cShell, cControl, cStdin, cIOPub *sock
	eng                              *engine
	hub                              *widgetHub // widget models and the cells' socket (widgets.go)

	// mu serialises the cell queue and the sending of what it returns, so
	// its outs go out in order.
	mu      sync.Mutex
	cells   *cellQueue
	pending map[string]*request
	comms   map[string]string // open comm id -> target name, from both sides
	hist    *history

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Run serves the kernel until a shutdown_request, SIGTERM or SIGHUP.
func Run(opts Options) error {
	k, err := Start(opts)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case s := <-sigs:
			if s == os.Interrupt {
				k.logger.Printf("SIGINT: interrupting the running cell")
				k.interrupt()
				continue
			}
			k.logger.Printf("%v: shutting down", s)
			k.Shutdown(0)
		case <-k.done:
			return nil
		}
	}
}

// Start binds the front-end sockets, starts GoNB and serves in the background.
func Start(opts Options) (*Kernel, error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Backend == nil {
		opts.Backend = EnvBackend
	}
	if opts.InterruptGrace == 0 {
		opts.InterruptGrace = 1500 * time.Millisecond
	}
	ci, err := LoadConnectionInfo(opts.ConnectionFile)
	if err != nil {
		return nil, err
	}
	memLimit, err := MemoryLimit()
	if err != nil {
		return nil, err
	}
	outLimit, err := OutputLimit()
	if err != nil {
		return nil, err
	}
	if opts.GoNB == "" {
		if opts.GoNB, err = FindTool("gonb"); err != nil {
			return nil, err
		}
	}
	if opts.Root == "" {
		if opts.Root, err = FindRoot(); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &Kernel{opts: opts, ci: ci, sig: signer{key: []byte(ci.Key)}, session: newID(),
		logger: log.New(opts.Log, "[gopeft kernel] ", log.LstdFlags), pending: map[string]*request{}, comms: map[string]string{},
		hist: newHistory(defaultHistoryPath()), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	k.cells = newCellQueue(func(msgType string, parent *Message, content any) *Message {
		return newMessage(k.session, msgType, parent, content)
	}, func(f cellFailure) (string, string, []string) {
		ename, evalue, tb := cellError(f)
		if ename == "FatalError" && memLimit > 0 {
			// The runtime's words are right but do not say which memory.
			switch {
			case strings.Contains(evalue, "out of memory"), strings.Contains(evalue, "cannot allocate memory"):
				evalue = fmt.Sprintf("out of memory: a cell program may use %s (GOPEFT_CELL_MEMORY)", formatSize(memLimit))
			case strings.HasPrefix(evalue, "SIGSEGV") || strings.HasPrefix(evalue, "SIGBUS"):
				evalue += fmt.Sprintf(" in the Go runtime: if the cell was allocating memory, it reached the limit of %s a cell program may use (GOPEFT_CELL_MEMORY)", formatSize(memLimit))
			}
			tb[0] = errorHeader(ename, evalue)
		}
		return ename, evalue, tb
	})
	k.cells.outputLimit = outLimit

	k.shell = &sock{s: zmq4.NewRouter(ctx)}
	k.control = &sock{s: zmq4.NewRouter(ctx)}
	k.stdin = &sock{s: zmq4.NewRouter(ctx)}
	k.iopub = &sock{s: zmq4.NewPub(ctx)}
	k.hb = &sock{s: zmq4.NewRep(ctx)}
	for _, b := range []struct {
		s    *sock
		port int
	}{{k.shell, ci.ShellPort}, {k.control, ci.ControlPort}, {k.stdin, ci.StdinPort}, {k.iopub, ci.IOPubPort}, {k.hb, ci.HBPort}} {
		if err := b.s.s.Listen(ci.endpoint(b.port)); err != nil {
			k.closeSockets()
			cancel()
			return nil, fmt.Errorf("binding %s: %w (another kernel on the same connection file?)", ci.endpoint(b.port), err)
		}
	}
	go k.heartbeat()

	k.eng, err = startEngine(opts.ConnectionFile, opts.GoNB, opts.Root, opts.Log, memLimit)
	if err != nil {
		k.closeSockets()
		cancel()
		return nil, err
	}
	if k.hub, err = startWidgetHub(k, k.eng.workDir); err != nil {
		k.eng.stop()
		k.closeSockets()
		cancel()
		return nil, err
	}
	ec := &k.eng.conn
	k.esig = signer{key: []byte(ec.Key)}
	id := zmq4.SocketIdentity("gopeft-" + k.session[:8])
	k.cShell = &sock{s: zmq4.NewDealer(ctx, zmq4.WithID(id))}
	// GoNB routes input_request by the identity of the shell request, so
	// the stdin dealer must carry the same identity.
	k.cStdin = &sock{s: zmq4.NewDealer(ctx, zmq4.WithID(id))}
	k.cControl = &sock{s: zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("gopeft-ctl-"+k.session[:8])))}
	k.cIOPub = &sock{s: zmq4.NewSub(ctx)}
	for _, d := range []struct {
		s    *sock
		port int
	}{{k.cShell, ec.ShellPort}, {k.cControl, ec.ControlPort}, {k.cStdin, ec.StdinPort}, {k.cIOPub, ec.IOPubPort}} {
		if err := dialRetry(d.s.s, ec.endpoint(d.port), 30*time.Second); err != nil {
			k.eng.stop()
			k.closeSockets()
			cancel()
			return nil, fmt.Errorf("connecting to GoNB at %s: %w", ec.endpoint(d.port), err)
		}
	}
	_ = k.cIOPub.s.SetOption(zmq4.OptionSubscribe, "")

	go k.loop(k.shell, k.fromClient("shell"))
	go k.loop(k.control, k.fromClient("control"))
	go k.loop(k.stdin, k.fromClientStdin)
	go k.loop(k.cShell, k.fromEngine("shell"))
	go k.loop(k.cControl, k.fromEngine("control"))
	go k.loop(k.cStdin, k.fromEngineStdin)
	go k.loop(k.cIOPub, k.fromEngineIOPub)
	if os.Getenv("JPY_PARENT_PID") != "" {
		go k.watchParent()
	}
	go func() {
		select {
		case <-k.eng.exited:
			k.logger.Printf("GoNB engine exited; stopping the kernel")
			k.mu.Lock()
			k.apply(k.cells.EngineDied())
			k.mu.Unlock()
			k.Shutdown(0)
		case <-k.done:
		}
	}()
	k.publish(newMessage(k.session, "status", nil, map[string]any{"execution_state": "starting"}))
	mem := "unlimited"
	if memLimit > 0 {
		mem = formatSize(memLimit)
	}
	k.logger.Printf("gopeft %s kernel ready (GoNB %s, module %s => %s; memory per process %s)", opts.Version, opts.GoNB, ModulePath, opts.Root, mem)
	return k, nil
}

func dialRetry(s zmq4.Socket, ep string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := s.Dial(ep)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Done is closed when the kernel has shut down and cleaned up.
func (k *Kernel) Done() <-chan struct{} { return k.done }

// Shutdown stops GoNB (giving it polite time to exit by itself), removes the
// temp dirs and closes the sockets.
func (k *Kernel) Shutdown(polite time.Duration) {
	k.once.Do(func() {
		k.hub.close()
		k.eng.stopAfter(polite)
		k.cancel()
		k.closeSockets()
		close(k.done)
	})
}

func (k *Kernel) closeSockets() {
	for _, s := range []*sock{k.shell, k.control, k.stdin, k.iopub, k.hb, k.cShell, k.cControl, k.cStdin, k.cIOPub} {
		if s != nil {
			_ = s.s.Close()
		}
	}
}

func (k *Kernel) heartbeat() {
	for {
		msg, err := k.hb.s.Recv()
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		_ = k.hb.send(msg.Frames)
	}
}

func (k *Kernel) loop(s *sock, handle func([][]byte)) {
	for {
		msg, err := s.s.Recv()
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		handle(msg.Frames)
	}
}

// decode verifies and parses a message from GoNB; mis-signed or malformed
// messages are logged and dropped, as the protocol requires.
func (k *Kernel) decode(from string, frames [][]byte) *Message {
	m, err := k.esig.decode(frames)
	if err != nil {
		k.logger.Printf("dropping message on %s: %v", from, err)
		return nil
	}
	return m
}

// decodeClient is decode for the client's sockets, where a replayed message
// (a signature seen before in this session) is dropped too.
func (k *Kernel) decodeClient(from string, frames [][]byte) *Message {
	m, err := k.sig.decodeOnce(frames, &k.recent)
	if err != nil {
		k.logger.Printf("dropping message on %s: %v", from, err)
		return nil
	}
	return m
}

func (k *Kernel) publish(m *Message) {
	m.Identities = [][]byte{[]byte("kernel." + k.session + "." + m.Header.MsgType)}
	_ = k.iopub.send(k.sig.encode(m))
}

// forwardIOPub republishes an engine message unchanged (or re-signed if
// changed); the topic frame from GoNB is kept.
func (k *Kernel) forwardIOPub(m *Message) {
	_ = k.iopub.send(k.sig.encode(m))
}

func (k *Kernel) replyTo(channel string, parent *Message, msgType string, content any) {
	k.sendOn(channel, newMessage(k.session, msgType, parent, content))
}

// sendOn signs m and sends it on the shell or control socket a request came in on.
func (k *Kernel) sendOn(channel string, m *Message) {
	s := k.shell
	if channel == "control" {
		s = k.control
	}
	_ = s.send(k.sig.encode(m))
}

func (k *Kernel) status(parent *Message, state string) {
	k.publish(newMessage(k.session, "status", parent, map[string]any{"execution_state": state}))
}

// answer runs a request we handle ourselves, between busy and idle.
func (k *Kernel) answer(channel string, m *Message, msgType string, content any) {
	k.status(m, "busy")
	k.replyTo(channel, m, msgType, content)
	k.status(m, "idle")
}

func (k *Kernel) toEngine(channel string, m *Message) {
	s := k.cShell
	if channel == "control" {
		s = k.cControl
	}
	fwd := *m
	fwd.Identities = nil
	_ = s.send(k.esig.encode(&fwd))
}

func (k *Kernel) fromClient(channel string) func([][]byte) {
	return func(frames [][]byte) {
		m := k.decodeClient(channel, frames)
		if m == nil {
			return
		}
		switch m.Header.MsgType {
		case "kernel_info_request":
			k.answer(channel, m, "kernel_info_reply", KernelInfo(k.opts.Version))
		case "is_complete_request":
			code, _ := m.Content()["code"].(string)
			st, indent := IsComplete(code)
			c := map[string]any{"status": st}
			if st == "incomplete" {
				c["indent"] = indent
			}
			k.answer(channel, m, "is_complete_reply", c)
		case "connect_request":
			k.answer(channel, m, "connect_reply", map[string]any{"status": "ok", "shell_port": k.ci.ShellPort,
				"iopub_port": k.ci.IOPubPort, "stdin_port": k.ci.StdinPort, "hb_port": k.ci.HBPort, "control_port": k.ci.ControlPort})
		case "history_request":
			k.answer(channel, m, "history_reply", map[string]any{"status": "ok", "history": k.hist.query(m.Content())})
		case "interrupt_request":
			k.interrupt()
			k.answer(channel, m, "interrupt_reply", map[string]any{"status": "ok"})
		case "shutdown_request":
			restart, _ := m.Content()["restart"].(bool)
			k.mu.Lock()
			k.apply(k.cells.Shutdown())
			k.mu.Unlock()
			// GoNB gets the request too, so it can stop gopls and clean up
			// itself; whatever is left after 2 s is killed.
			k.toEngine("control", m)
			k.answer(channel, m, "shutdown_reply", map[string]any{"status": "ok", "restart": restart})
			go k.Shutdown(2 * time.Second)
		case "execute_request":
			k.execute(channel, m)
		case "comm_info_request":
			// GoNB 0.11.1 never replies; answer from the comms we saw opened.
			target, _ := m.Content()["target_name"].(string)
			k.hub.noteCommInfo(target)
			k.answer(channel, m, "comm_info_reply", map[string]any{"status": "ok", "comms": k.openComms(target)})
		case "comm_open", "comm_close", "comm_msg":
			// Busy/idle around every comm message: ipywidgets 6 holds a
			// view's next sync until the idle under its last one.
			k.status(m, "busy")
			defer k.status(m, "idle")
			if m.Header.MsgType == "comm_close" {
				k.trackComm(m)
			}
			if k.hub.fromClient(m) {
				return
			}
			if m.Header.MsgType == "comm_msg" {
				k.toEngine(channel, m)
				return
			}
			// GoNB 0.11.1 dispatches comm_close only under a misspelt name;
			// track both so comm_info is right, and pass them on.
			if m.Header.MsgType == "comm_open" {
				k.trackComm(m)
			}
			k.toEngine(channel, m)
		default:
			k.mu.Lock()
			k.pending[m.Header.MsgID] = &request{msg: m, channel: channel}
			k.mu.Unlock()
			k.toEngine(channel, m)
		}
	}
}

func (k *Kernel) execute(channel string, m *Message) {
	code, _ := m.Content()["code"].(string)
	engineCode, magicOut := runMagics(code, k.opts.Backend)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.apply(k.cells.Execute(channel, m, engineCode, magicOut))
}

// apply sends what the cell queue returned; k.mu is held.
func (k *Kernel) apply(outs []out) {
	for _, o := range outs {
		switch o.kind {
		case outReply:
			k.sendOn(o.channel, o.msg)
		case outPublish:
			k.publish(o.msg)
		case outForward:
			k.forwardIOPub(o.msg)
		case outEngine:
			k.toEngine(o.channel, o.msg)
		case outSweep:
			if names := k.eng.sweep(); len(names) > 0 {
				k.logger.Printf("killed %d process(es) the cell left running: %s", len(names), strings.Join(names, ", "))
				k.publish(newMessage(k.session, "stream", o.msg, map[string]any{"name": "stderr", "text": fmt.Sprintf(
					"[gopeft: the cell left %s running; stopped: a cell's processes end with it]\n", processList(names))}))
			}
		case outHistory:
			k.hist.add(o.count, o.code)
			k.hist.setOutput(o.count, o.output)
		}
	}
}

func (k *Kernel) fromClientStdin(frames [][]byte) {
	m := k.decodeClient("stdin", frames)
	if m == nil {
		return
	}
	fwd := *m
	fwd.Identities = nil
	_ = k.cStdin.send(k.esig.encode(&fwd))
}

func (k *Kernel) fromEngineStdin(frames [][]byte) {
	m := k.decode("engine stdin", frames)
	if m == nil {
		return
	}
	k.mu.Lock()
	to := k.cells.Requester(m)
	if req := k.pending[m.ParentID()]; to == nil && req != nil {
		to = req.msg
	}
	k.mu.Unlock()
	if to == nil {
		return
	}
	m.Identities = to.Identities
	_ = k.stdin.send(k.sig.encode(m))
}

func (k *Kernel) fromEngine(channel string) func([][]byte) {
	return func(frames [][]byte) {
		m := k.decode("engine "+channel, frames)
		if m == nil {
			return
		}
		k.mu.Lock()
		if outs, ok := k.cells.EngineReply(m); ok {
			k.apply(outs)
			k.mu.Unlock()
			return
		}
		req := k.pending[m.ParentID()]
		delete(k.pending, m.ParentID())
		k.mu.Unlock()
		if req == nil {
			return // a reply to a request we answered ourselves
		}
		m.Identities = req.msg.Identities
		k.sendOn(req.channel, m)
	}
}

func (k *Kernel) fromEngineIOPub(frames [][]byte) {
	m := k.decode("engine iopub", frames)
	if m == nil {
		return
	}
	fixWidgetJS(m)
	if t := m.Header.MsgType; t == "comm_open" || t == "comm_close" {
		k.trackComm(m)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if outs, ok := k.cells.EngineIOPub(m); ok {
		k.apply(outs)
		return
	}
	k.forwardIOPub(m)
}

// interrupt stops the running cell: GoNB forwards SIGINT to the cell
// program, and what still runs after the grace period is killed.
func (k *Kernel) interrupt() {
	k.mu.Lock()
	req := k.cells.Interrupt()
	k.mu.Unlock()
	k.eng.interrupt(k.opts.InterruptGrace, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return req != nil && k.cells.IsRunning(req.Header.MsgID)
	})
}

// runningRequest is the running cell's execute_request, or nil.
func (k *Kernel) runningRequest() *Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cells.Running()
}

// addComm records a comm the kernel itself opened (a widget model).
func (k *Kernel) addComm(id, target string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.comms[id] = target
}

func (k *Kernel) trackComm(m *Message) {
	c := m.Content()
	id, _ := c["comm_id"].(string)
	k.mu.Lock()
	defer k.mu.Unlock()
	if m.Header.MsgType == "comm_open" {
		target, _ := c["target_name"].(string)
		k.comms[id] = target
	} else {
		delete(k.comms, id)
	}
}

func (k *Kernel) openComms(target string) map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]any{}
	for id, t := range k.comms {
		if target == "" || t == target {
			out[id] = map[string]any{"target_name": t}
		}
	}
	return out
}

// watchParent shuts the kernel down when the process that started it (named
// by JPY_PARENT_PID, which jupyter_client sets) goes away, so a killed
// front-end does not leave a kernel and its engine behind.
func (k *Kernel) watchParent() {
	ppid, _ := strconv.Atoi(os.Getenv("JPY_PARENT_PID"))
	direct := os.Getppid()
	if ppid <= 1 {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-t.C:
			// Reparenting (our parent died) or the named process exiting.
			if (direct > 1 && os.Getppid() != direct) || syscall.Kill(ppid, 0) == syscall.ESRCH {
				k.logger.Printf("parent process %d is gone; shutting down", ppid)
				k.Shutdown(0)
				return
			}
		}
	}
}

// processList says "2 processes (sleep, sleep)" or "1 process (sleep)".
func processList(names []string) string {
	if len(names) == 1 {
		return "1 process (" + names[0] + ")"
	}
	return fmt.Sprintf("%d processes (%s)", len(names), strings.Join(names, ", "))
}
