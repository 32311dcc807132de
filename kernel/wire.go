package kernel

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// ProtocolVersion is the Jupyter messaging protocol version this kernel speaks.
const ProtocolVersion = "5.3"

// delimiter separates ZeroMQ routing identities from the signed message parts.
var delimiter = []byte("<IDS|MSG>")

// ConnectionInfo is the content of a Jupyter connection file.
type ConnectionInfo struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	ControlPort     int    `json:"control_port"`
	StdinPort       int    `json:"stdin_port"`
	IOPubPort       int    `json:"iopub_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name,omitempty"`
}

// LoadConnectionInfo reads and checks a connection file.
func LoadConnectionInfo(path string) (*ConnectionInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading connection file: %w (Jupyter passes it as --connection-file {connection_file})", err)
	}
	var ci ConnectionInfo
	if err := json.Unmarshal(data, &ci); err != nil {
		return nil, fmt.Errorf("connection file %s is not valid JSON: %w", path, err)
	}
	if ci.Transport == "" {
		ci.Transport = "tcp"
	}
	if ci.SignatureScheme == "" {
		ci.SignatureScheme = "hmac-sha256"
	}
	if ci.Key != "" && ci.SignatureScheme != "hmac-sha256" {
		return nil, fmt.Errorf("connection file %s asks for signature scheme %q; this kernel supports only hmac-sha256", path, ci.SignatureScheme)
	}
	return &ci, nil
}

func (ci *ConnectionInfo) endpoint(port int) string {
	if ci.Transport == "ipc" {
		return fmt.Sprintf("ipc://%s-%d", ci.IP, port)
	}
	return fmt.Sprintf("%s://%s:%d", ci.Transport, ci.IP, port)
}

// Header is a Jupyter message header.
type Header struct {
	MsgID    string `json:"msg_id"`
	Username string `json:"username"`
	Session  string `json:"session"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// Message is one decoded Jupyter message. The raw JSON parts are kept so a
// message can be forwarded byte-for-byte when it is not changed.
type Message struct {
	Identities [][]byte
	Header     Header
	RawHeader  json.RawMessage
	RawParent  json.RawMessage
	RawMeta    json.RawMessage
	RawContent json.RawMessage
	Buffers    [][]byte
}

// ParentID returns the msg_id of the parent header, or "".
func (m *Message) ParentID() string {
	var p struct {
		MsgID string `json:"msg_id"`
	}
	_ = json.Unmarshal(m.RawParent, &p)
	return p.MsgID
}

// Content decodes the content into a generic map.
func (m *Message) Content() map[string]any {
	c := map[string]any{}
	_ = json.Unmarshal(m.RawContent, &c)
	return c
}

// signer signs and verifies messages with the connection key.
type signer struct{ key []byte }

func (s signer) sign(parts ...[]byte) []byte {
	if len(s.key) == 0 {
		return nil
	}
	mac := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		mac.Write(p)
	}
	sum := mac.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// ErrBadSignature marks a message whose HMAC does not match: it is dropped.
var ErrBadSignature = fmt.Errorf("message signature does not match the connection key")

// decode parses wire frames and verifies the signature.
func (s signer) decode(frames [][]byte) (*Message, error) {
	return s.decodeOnce(frames, nil)
}

// decodeOnce is decode that also rejects a signature recent has seen (with a
// key; without one nothing is signed). Only verified messages are recorded,
// so forged frames cannot fill the memory and push real signatures out.
func (s signer) decodeOnce(frames [][]byte, recent *recentSigs) (*Message, error) {
	i := 0
	for i < len(frames) && !bytes.Equal(frames[i], delimiter) {
		i++
	}
	if i == len(frames) || len(frames) < i+6 {
		return nil, fmt.Errorf("malformed message: %d frames, no <IDS|MSG> delimiter followed by 5 parts", len(frames))
	}
	m := &Message{Identities: frames[:i]}
	sig := frames[i+1]
	parts := frames[i+2 : i+6]
	if len(s.key) > 0 {
		want := s.sign(parts...)
		if !hmac.Equal(want, sig) {
			return nil, ErrBadSignature
		}
	}
	m.RawHeader = parts[0]
	var h Header
	if err := json.Unmarshal(m.RawHeader, &h); err != nil {
		return nil, fmt.Errorf("malformed message header: %w", err)
	}
	if recent != nil && len(s.key) > 0 && recent.seen(sig) {
		return nil, ErrReplayed
	}
	m.RawHeader, m.RawParent, m.RawMeta, m.RawContent = parts[0], parts[1], parts[2], parts[3]
	m.Header = h
	m.Buffers = frames[i+6:]
	return m, nil
}

// encode returns the wire frames of m, re-signed.
func (s signer) encode(m *Message) [][]byte {
	frames := make([][]byte, 0, len(m.Identities)+6+len(m.Buffers))
	frames = append(frames, m.Identities...)
	meta := m.RawMeta
	if len(meta) == 0 {
		meta = []byte("{}")
	}
	parent := m.RawParent
	if len(parent) == 0 {
		parent = []byte("{}")
	}
	frames = append(frames, delimiter, s.sign(m.RawHeader, parent, meta, m.RawContent), m.RawHeader, parent, meta, m.RawContent)
	frames = append(frames, m.Buffers...)
	return frames
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newMessage builds a message of msgType in reply to (or published under) parent.
func newMessage(session, msgType string, parent *Message, content any) *Message {
	h := Header{MsgID: newID(), Username: "gopeft", Session: session,
		Date: time.Now().UTC().Format(time.RFC3339Nano), MsgType: msgType, Version: ProtocolVersion}
	m := &Message{Header: h}
	m.RawHeader, _ = json.Marshal(h)
	if parent != nil {
		m.RawParent = parent.RawHeader
		m.Identities = parent.Identities
	} else {
		m.RawParent = []byte("{}")
	}
	m.RawMeta = []byte("{}")
	m.RawContent, _ = json.Marshal(content)
	return m
}

// setContent replaces the content of m (it is re-signed when encoded).
func (m *Message) setContent(content any) {
	m.RawContent, _ = json.Marshal(content)
}

// ErrReplayed marks a correctly signed message whose signature was already
// seen in this session: someone re-sent captured frames. It is dropped.
var ErrReplayed = fmt.Errorf("message signature already seen (replayed message)")

// maxRecentSigs bounds the replay memory. jupyter_client's Session keeps the
// same kind of bounded digest history; a replay older than this many client
// messages gets through, which a signature scheme without nonces cannot
// prevent with bounded memory.
const maxRecentSigs = 1 << 14

// recentSigs remembers the signatures of the last maxRecentSigs client
// messages; a signature is as unique as the msg_id and date it covers.
type recentSigs struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

// seen records sig and reports whether it was already there.
func (r *recentSigs) seen(sig []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = make(map[string]struct{}, 1024)
		r.ring = make([]string, maxRecentSigs)
	}
	s := string(sig)
	if _, ok := r.set[s]; ok {
		return true
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = s
	r.next = (r.next + 1) % len(r.ring)
	r.set[s] = struct{}{}
	return false
}
