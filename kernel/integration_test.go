package kernel

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// startTestKernel runs a kernel in-process on fresh ports, or skips when GoNB
// is not installed.
func startTestKernel(t *testing.T) (*Kernel, *ConnectionInfo) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts GoNB and compiles cells; skipped with -short")
	}
	if _, err := FindTool("gonb"); err != nil {
		t.Skipf("GoNB not installed: %v", err)
	}
	if _, err := FindTool("goimports"); err != nil {
		t.Skipf("goimports not installed (GoNB needs it): %v", err)
	}
	t.Setenv("GOPEFT_HISTORY_FILE", "off")
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	ci := &ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", ShellPort: ports[0], ControlPort: ports[1],
		StdinPort: ports[2], IOPubPort: ports[3], HBPort: ports[4], Key: "test-key", SignatureScheme: "hmac-sha256"}
	path := filepath.Join(t.TempDir(), "kernel-test.json")
	data, _ := json.Marshal(ci)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := Start(Options{ConnectionFile: path, Version: "test", Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Shutdown(0) })
	return k, ci
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { return len(p), nil }

type testClient struct {
	t       *testing.T
	shell   zmq4.Socket
	sig     signer
	replies chan *Message
}

func (c *testClient) request(msgType string, content any, key []byte) string {
	m := newMessage("client", msgType, nil, content)
	if err := c.shell.SendMulti(zmq4.NewMsgFrom(signer{key: key}.encode(m)...)); err != nil {
		c.t.Fatal(err)
	}
	return m.Header.MsgID
}

// reply waits for the shell reply to id; nil on timeout.
func (c *testClient) reply(id string, timeout time.Duration) *Message {
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.replies:
			if !ok {
				return nil
			}
			if m.ParentID() == id {
				return m
			}
		case <-deadline:
			return nil
		}
	}
}

// read decodes shell replies into c.replies (one reader, so no reply is lost).
func (c *testClient) read() {
	defer close(c.replies)
	for {
		msg, err := c.shell.Recv()
		if err != nil {
			return
		}
		if m, err := c.sig.decode(msg.Frames); err == nil {
			c.replies <- m
		}
	}
}

func TestKernelEndToEnd(t *testing.T) {
	k, ci := startTestKernel(t)
	workDir := k.eng.workDir
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shell := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("test-client")))
	defer shell.Close()
	if err := shell.Dial(ci.endpoint(ci.ShellPort)); err != nil {
		t.Fatal(err)
	}
	c := &testClient{t: t, shell: shell, sig: signer{key: []byte(ci.Key)}, replies: make(chan *Message, 16)}
	go c.read()

	id := c.request("kernel_info_request", map[string]any{}, []byte(ci.Key))
	r := c.reply(id, 30*time.Second)
	if r == nil {
		t.Fatal("no kernel_info_reply")
	}
	if info := r.Content(); info["implementation"] != "gopeft" || info["implementation_version"] != "test" {
		t.Fatalf("kernel_info: %v", info)
	}

	// A mis-signed request gets no reply and is not executed.
	id = c.request("kernel_info_request", map[string]any{}, []byte("wrong-key"))
	if r := c.reply(id, 2*time.Second); r != nil {
		t.Fatalf("kernel replied to a mis-signed message: %s", r.Header.MsgType)
	}

	exec := func(code string) map[string]any {
		id := c.request("execute_request", map[string]any{"code": code, "silent": false, "store_history": true,
			"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true}, []byte(ci.Key))
		r := c.reply(id, 120*time.Second)
		if r == nil {
			t.Fatalf("no execute_reply for %q", code)
		}
		return r.Content()
	}
	if st := exec("%%\npanic(\"boom\")"); st["status"] != "error" || st["ename"] != "panic" {
		t.Fatalf("panicking cell: %v", st)
	}
	if st := exec("%%\nundefinedThing()"); st["ename"] != "CompileError" || st["evalue"] != "Cell[2] line 2: undefined: undefinedThing" {
		t.Fatalf("compile error: %v", st)
	}
	if st := exec("%%\nos.Exit(3)"); st["status"] != "error" || st["ename"] != "ExitError" {
		t.Fatalf("os.Exit(3) cell: %v", st)
	}
	if st := exec("import \"github.com/gopeft/gopeft/peft\"\n%%\nfmt.Println(peft.Version)"); st["status"] != "ok" {
		t.Fatalf("importing peft without setup: %v", st)
	}

	id = c.request("is_complete_request", map[string]any{"code": "func f() {"}, []byte(ci.Key))
	if r := c.reply(id, 10*time.Second); r == nil || r.Content()["status"] != "incomplete" {
		t.Fatalf("is_complete: %v", r)
	}

	k.Shutdown(2 * time.Second)
	<-k.Done()
	if _, err := os.Stat(workDir); !os.IsNotExist(err) {
		t.Fatalf("work dir %s left after shutdown", workDir)
	}
	if pids := k.eng.cellPrograms(); len(pids) != 0 {
		t.Fatalf("cell programs left: %v", pids)
	}
}
