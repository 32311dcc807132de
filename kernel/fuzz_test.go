package kernel

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/<target>; a plain `go test` runs
// them (and the f.Add seeds) as ordinary tests, so a crasher once found and
// committed stays covered. kernel/tests/fuzz_smoke.sh fuzzes each target
// briefly; run one longer with
//
//	go test -run XXX -fuzz FuzzIsComplete -fuzztime 5m ./kernel

// FuzzIsComplete: any cell text gets one of the three answers, quickly, and
// an indent only with "incomplete", made of tabs.
func FuzzIsComplete(f *testing.F) {
	for _, s := range []string{
		"", "func f() {", "%%\nfmt.Println(1)", "!ls \\", "x := `abc", "/* c", "func f() }",
		"var x = []int{1,", "x := 1 +", `x := "abc`, "%%\nfor i := range 3 {\n\tfmt.Println(i)\n}",
		"import (\n\t\"fmt\"\n", "type T struct{ A int }\n%%\nfmt.Println(T{})", "\\", "%", "!", "\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		st, indent := IsComplete(code)
		switch st {
		case "complete", "invalid":
			if indent != "" {
				t.Fatalf("IsComplete(%q) = %q with indent %q", code, st, indent)
			}
		case "incomplete":
			if strings.Trim(indent, "\t") != "" {
				t.Fatalf("IsComplete(%q) indent %q is not tabs", code, indent)
			}
		default:
			t.Fatalf("IsComplete(%q) = %q", code, st)
		}
		if st2, indent2 := IsComplete(code); st2 != st || indent2 != indent {
			t.Fatalf("IsComplete(%q) not deterministic: %q/%q then %q/%q", code, st, indent, st2, indent2)
		}
	})
}

// fuzzSep splits FuzzDecode's data into wire frames.
const fuzzSep = 0xff

// FuzzDecode feeds arbitrary frames to the wire decoder. With sign set, the
// four parts after a delimiter are signed with key first, so the fuzzer
// reaches the JSON decoding instead of stopping at the HMAC. Properties: no
// panic; a decoded message has a signature that matches (when there is a
// key), decodes its content and parent without panicking, and survives an
// encode/decode round trip unchanged; a changed signature is rejected; with
// a key, the same frames a second time are a replay.
func FuzzDecode(f *testing.F) {
	s := signer{key: []byte("fuzz-key")}
	m := newMessage("sess", "execute_request", nil, map[string]any{"code": "%%\nfmt.Println(1)", "silent": false})
	m.Identities = [][]byte{[]byte("client-id")}
	f.Add([]byte("fuzz-key"), bytes.Join(s.encode(m), []byte{fuzzSep}), false)
	f.Add([]byte("fuzz-key"), bytes.Join(s.encode(m), []byte{fuzzSep}), true)
	f.Add([]byte(""), bytes.Join(signer{}.encode(m), []byte{fuzzSep}), false)
	f.Add([]byte("k"), []byte("<IDS|MSG>\xff\xff{}\xff{}\xff{}\xff{}"), true)
	f.Add([]byte("k"), []byte("a\xffb\xff<IDS|MSG>\xffsig\xff{\"msg_id\":1}\xff{}\xff{}\xffnull\xffbuf"), true)
	f.Add([]byte("k"), []byte("<IDS|MSG>"), false)
	f.Fuzz(func(t *testing.T, key, data []byte, sign bool) {
		s := signer{key: key}
		frames := bytes.Split(data, []byte{fuzzSep})
		if sign {
			for i := range frames {
				if bytes.Equal(frames[i], delimiter) && len(frames) >= i+6 {
					frames[i+1] = s.sign(frames[i+2 : i+6]...)
					break
				}
			}
		}
		got, err := s.decode(frames)
		var recent recentSigs
		once, err1 := s.decodeOnce(frames, &recent)
		if (err == nil) != (err1 == nil) {
			t.Fatalf("decode: %v, decodeOnce: %v", err, err1)
		}
		if err != nil {
			if got != nil || once != nil {
				t.Fatalf("decode returned a message and error %v", err)
			}
			return
		}
		if _, err := s.decodeOnce(frames, &recent); len(key) > 0 && err != ErrReplayed {
			t.Fatalf("the same frames again: err = %v, want ErrReplayed", err)
		}
		i := len(got.Identities)
		if !bytes.Equal(frames[i], delimiter) {
			t.Fatalf("identities %d do not end at the delimiter", i)
		}
		if len(key) > 0 && !bytes.Equal(frames[i+1], s.sign(frames[i+2:i+6]...)) {
			t.Fatal("accepted a message whose signature does not match")
		}
		if !json.Valid(got.RawHeader) {
			t.Fatalf("accepted a header that is not JSON: %q", got.RawHeader)
		}
		_ = got.Content()
		_ = got.ParentID()
		again, err := s.decode(s.encode(got))
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if again.Header != got.Header || !bytes.Equal(again.RawContent, got.RawContent) || len(again.Buffers) != len(got.Buffers) {
			t.Fatalf("round trip changed the message: %+v -> %+v", got.Header, again.Header)
		}
		if len(key) > 0 {
			bad := append([][]byte(nil), frames...)
			bad[i+1] = append(append([]byte(nil), frames[i+1]...), '0')
			if _, err := s.decode(bad); err != ErrBadSignature {
				t.Fatalf("changed signature: err = %v, want ErrBadSignature", err)
			}
		}
	})
}
