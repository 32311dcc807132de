package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadFileErrors: every damaged file a user can hand Read and ReadHeader
// is refused with an error naming the file, the problem and the fix.
func TestBadFileErrors(t *testing.T) {
	good, _ := hex.DecodeString(goldenHex)
	withLen := func(n uint64) []byte {
		b := append([]byte{}, good...)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	replace := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	const again = "download or save it again"
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		buf  []byte
		want []string // the problem, then the fix
	}{
		{"empty", nil, []string{"shorter than the 8-byte header length", again}},
		{"truncated data", good[:len(good)-3], []string{"truncated", again}},
		{"truncated header", good[:20], []string{"exceeds the 12 bytes after the length prefix", again}},
		{"not safetensors", []byte("PK\x03\x04 this is a zip file, not safetensors"), []string{"exceeds", again}},
		{"corrupt header", append(withLen(8)[:8], []byte("\x00\x01garbag")...), []string{"not a JSON object", again}},
		{"header length lies", withLen(1 << 40), []string{"header length 1099511627776 exceeds", again}},
		{"offsets past the end", replace(`[16,24]`, `[16,99]`), []string{`tensor "b": data_offsets [16, 99] outside`, again}},
		{"offsets overlap", replace(`[16,24]`, `[12,20]`), []string{`tensor "b"`, again}},
		{"size lies", replace(`"shape":[2]`, `"shape":[5]`), []string{`tensor "a": shape [5] of I64 needs 40 bytes but data_offsets span 16`, again}},
		{"unsupported dtype", replace(`"F32"`, `"F8E"`), []string{`unsupported dtype "F8E"`, "save the tensor in one of those dtypes"}},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
		if err := os.WriteFile(p, c.buf, 0o644); err != nil {
			t.Fatal(err)
		}
		_, rerr := Read(p)
		_, herr := ReadHeader(p)
		for what, err := range map[string]error{"Read": rerr, "ReadHeader": herr} {
			if err == nil {
				// ReadHeader does not look at the data, so it may accept
				// a file whose data alone is cut short.
				if what == "ReadHeader" && c.name == "truncated data" {
					continue
				}
				t.Errorf("%s %s: accepted", what, c.name)
				continue
			}
			for _, w := range append([]string{p}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s %s: error %q lacks %q", what, c.name, err, w)
				}
			}
		}
	}
}
