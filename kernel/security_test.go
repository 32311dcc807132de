package kernel

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSignerRejectsUnsigned(t *testing.T) {
	s := signer{key: []byte("secret")}
	m := newMessage("sess", "execute_request", nil, map[string]any{"code": "1"})
	frames := signer{}.encode(m) // no key: empty signature
	if _, err := s.decode(frames); err != ErrBadSignature {
		t.Fatalf("unsigned message: err = %v, want ErrBadSignature", err)
	}
}

func TestReplayRejected(t *testing.T) {
	s := signer{key: []byte("secret")}
	var recent recentSigs
	m := newMessage("sess", "execute_request", nil, map[string]any{"code": "1"})
	frames := s.encode(m)
	if _, err := s.decodeOnce(frames, &recent); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if _, err := s.decodeOnce(frames, &recent); err != ErrReplayed {
		t.Fatalf("second delivery: err = %v, want ErrReplayed", err)
	}
	// A new message (new msg_id and date) is not a replay.
	if _, err := s.decodeOnce(s.encode(newMessage("sess", "execute_request", nil, map[string]any{"code": "1"})), &recent); err != nil {
		t.Fatalf("a fresh message: %v", err)
	}
	// Forged frames are not remembered: they must not push real signatures out.
	forged := signer{key: []byte("other")}.encode(m)
	for i := 0; i < 3; i++ {
		if _, err := s.decodeOnce(forged, &recent); err != ErrBadSignature {
			t.Fatalf("forged: err = %v, want ErrBadSignature", err)
		}
	}
	if len(recent.set) != 2 {
		t.Fatalf("remembered %d signatures, want 2", len(recent.set))
	}
	// Without a key nothing is signed, so nothing can be a replay.
	var none recentSigs
	unsigned := signer{}.encode(m)
	for i := 0; i < 2; i++ {
		if _, err := (signer{}).decodeOnce(unsigned, &none); err != nil {
			t.Fatalf("keyless delivery %d: %v", i, err)
		}
	}
}

func TestReplayMemoryBounded(t *testing.T) {
	var r recentSigs
	first := []byte("sig-0")
	r.seen(first)
	for i := 1; i <= maxRecentSigs+10; i++ {
		if r.seen([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'x'}) {
			t.Fatalf("distinct signature %d reported as seen", i)
		}
	}
	if len(r.set) > maxRecentSigs {
		t.Fatalf("remembers %d signatures, bound is %d", len(r.set), maxRecentSigs)
	}
	if r.seen(first) {
		t.Fatal("the oldest signature should have been forgotten")
	}
}

// The history holds the user's code: its file and the directory the kernel
// creates for it are the user's only.
func TestHistoryFilePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "share", "gopeft")
	h := newHistory(filepath.Join(dir, "kernel_history.jsonl"))
	h.add(1, `token := "secret"`)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "kernel_history.jsonl"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", path, st.Mode().Perm(), want)
		}
	}
}
