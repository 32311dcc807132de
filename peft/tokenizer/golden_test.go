package tokenizer

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/hf from the current code")

// hfSamples are the sentences testdata/check_hf.py feeds Hugging Face.
var hfSamples = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Call me Ishmael. Some years ago—never mind how long precisely—I went to sea.",
	"Naïve café owners can't stand the whales' résumés!",
	"Foxes, dogs & whales: 42 animals (approx.) in 2002.",
	"unaffable antidisestablishmentarianism zzzqqq",
	"The [MASK] fox runs away quickly.",
	"中文 and emoji 😀 in   extra\twhitespace\n",
	"",
}

// TestHFGolden keeps testdata/hf (a trained tokenizer directory plus our ids
// for hfSamples) in step with the code; check_hf.py compares HF's ids with
// samples.json on a machine that has transformers.
func TestHFGolden(t *testing.T) {
	texts := append(append([]string(nil), corpus...), hfSamples...)
	tk, err := TrainWordPiece(texts, 200)
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	}
	var samples []sample
	for _, s := range hfSamples {
		ids, _, _ := tk.Encode(s, 0)
		samples = append(samples, sample{s, ids})
	}
	dir := filepath.Join("testdata", "hf")
	if *update {
		if err := tk.Save(dir); err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(samples, "", "  ")
		if err := writeAtomic(filepath.Join(dir, "samples.json"), append(b, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "samples.json"))
	if err != nil {
		t.Fatalf("%v (run go test ./peft/tokenizer -run HFGolden -update)", err)
	}
	var want []sample
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(samples, want) {
		t.Errorf("encodings changed from testdata/hf/samples.json; if intended, run with -update and rerun check_hf.py")
	}
	saved, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(saved.Vocab(), tk.Vocab()) {
		t.Error("testdata/hf vocabulary differs from a fresh training run")
	}
}
