package hf

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParseConfig feeds config.json bytes to ParseConfig: it must never
// panic, and a config it accepts must be valid and survive Marshal and a
// second parse unchanged.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("../../models/gopeft-small/config.json"); err == nil {
		f.Add(b)
	}
	for _, mt := range []string{BERT, RoBERTa, DistilBERT} {
		c, _ := DefaultConfig(mt)
		b, _ := c.Marshal()
		f.Add(b)
	}
	f.Add([]byte(`{"model_type":"bert","hidden_size":64,"num_attention_heads":3}`))
	f.Add([]byte(`{"model_type":"gpt2"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config is invalid: %v", err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("accepted config does not marshal: %v", err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("marshalled config rejected: %v\n%s", err, out)
		}
		out2, err := again.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("config changed on a round trip (%v):\n%s\n%s", err, out, out2)
		}
	})
}
