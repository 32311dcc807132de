package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/compare"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

// The subcommands run in-process (their run functions), which skips linking
// a binary; pretrain is left out: even a tiny corpus takes too long here.

var (
	tinyModelDir string // a saved 2-layer model with a word-level tokenizer
	tinyTaskFile string // a JSONL task of 40 examples
)

var words = []string{"good", "bad", "the", "movie", "was", "plot", "very", "and"}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gopeft-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = writeFixtures(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "cli test fixtures:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeFixtures(dir string) error {
	tok, err := tokenizer.FromVocab(append(append([]string{}, tokenizer.Specials...), words...), true)
	if err != nil {
		return err
	}
	cfg := hf.Config{
		ModelType: "bert", VocabSize: len(tokenizer.Specials) + len(words), HiddenSize: 16, NumLayers: 2, NumHeads: 2,
		IntermediateSize: 32, MaxPositions: 32, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, HasPooler: true, HasTokenTypes: true, InitializerRange: 0.02,
	}
	m, err := peft.NewModel(cfg, tok, 1)
	if err != nil {
		return err
	}
	tinyModelDir = filepath.Join(dir, "model")
	if err := m.Save(tinyModelDir); err != nil {
		return err
	}
	var b strings.Builder
	for i := range 40 {
		label := []string{"negative", "positive"}[i%2]
		cue := []string{"bad", "good"}[i%2]
		fmt.Fprintf(&b, "{\"text\": %q, \"label\": %q}\n", "the movie was very "+cue+" and "+words[2+i%6], label)
	}
	tinyTaskFile = filepath.Join(dir, "tiny.jsonl")
	return os.WriteFile(tinyTaskFile, []byte(b.String()), 0o644)
}

// gopeft runs a subcommand in-process and returns its stdout, stderr and
// exit code.
func gopeft(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd, ok := commands[args[0]]
	if !ok {
		t.Fatalf("no subcommand %q", args[0])
	}
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	func() {
		defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
		code = cmd.run(args[1:])
	}()
	outF.Close()
	errF.Close()
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	return string(o), string(e), code
}

// embedJSON is embed --json's output.
type embedJSON struct {
	Tokens []string    `json:"tokens"`
	IDs    []int32     `json:"input_ids"`
	Hidden [][]float32 `json:"last_hidden_state"`
	Pooled []float32   `json:"pooler_output"`
	Shape  []int       `json:"hidden_shape"`
}

func embed(t *testing.T, args ...string) embedJSON {
	t.Helper()
	out, errOut, code := gopeft(t, append([]string{"embed", "--model", tinyModelDir, "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res embedJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	// One token, id and hidden row per position, each row of the hidden size.
	n := len(res.IDs)
	if len(res.Tokens) != n || len(res.Hidden) != n || fmt.Sprint(res.Shape) != fmt.Sprint([]int{1, n, 16}) {
		t.Fatalf("%d tokens, %d ids, %d hidden rows, hidden_shape %v: want %d of each and [1 %d 16]", len(res.Tokens), n, len(res.Hidden), res.Shape, n, n)
	}
	for i, row := range res.Hidden {
		if len(row) != 16 {
			t.Fatalf("hidden row %d has %d values, want the hidden size 16", i, len(row))
		}
	}
	if len(res.Pooled) != 16 {
		t.Errorf("pooler_output has %d values, want 16", len(res.Pooled))
	}
	return res
}

func TestEmbedJSON(t *testing.T) {
	// --max-len 6 fits [CLS] the movie was good [SEP] exactly.
	res := embed(t, "--text", "The movie was good", "--max-len", "6")
	cls, sep := int32(2), int32(3) // tokenizer.Specials: [PAD] [UNK] [CLS] [SEP] [MASK]
	want := []int32{cls, 7, 8, 9, 5, sep}
	if fmt.Sprint(res.IDs) != fmt.Sprint(want) {
		t.Errorf("input_ids %v, want %v", res.IDs, want)
	}
	if got := strings.Join(res.Tokens[1:5], " "); got != "the movie was good" {
		t.Errorf("tokens %q, want the lower-cased words between [CLS] and [SEP]", res.Tokens)
	}
	// Without --max-len the output is still consistent (see embed()).
	embed(t, "--text", "bad plot")
}

func TestDataExportWithoutData(t *testing.T) {
	t.Setenv("GOPEFT_DATA", t.TempDir())
	_, errOut, code := gopeft(t, "data", "export", "spam", filepath.Join(t.TempDir(), "spam.jsonl"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "gopeft data fetch") {
		t.Errorf("error does not tell to run `gopeft data fetch`: %s", errOut)
	}
}

func TestFinetuneJSON(t *testing.T) {
	save := filepath.Join(t.TempDir(), "run")
	out, errOut, code := gopeft(t, "finetune", "--model", tinyModelDir, "--task", tinyTaskFile,
		"--method", "pfeiffer", "--steps", "5", "--batch", "4", "--save", save, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"trainable_params", "total_params", "metrics", "run_dir"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	tr, _ := res["trainable_params"].(float64)
	total, _ := res["total_params"].(float64)
	if tr <= 0 || tr >= total {
		t.Errorf("trainable_params %v, total_params %v: want 0 < trainable < total", tr, total)
	}
	if m, _ := res["metrics"].(map[string]any); m["test_accuracy"] == nil {
		t.Errorf("metrics lack test_accuracy: %v", res["metrics"])
	}
	if res["run_dir"] != save {
		t.Errorf("run_dir %v, want %s", res["run_dir"], save)
	}
	if _, err := os.Stat(filepath.Join(save, runstore.RunFile)); err != nil {
		t.Errorf("run directory not written: %v", err)
	}
}

func TestFinetuneUnknownMethod(t *testing.T) {
	_, errOut, code := gopeft(t, "finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "nope")
	if code == 0 {
		t.Fatal("an unknown method succeeded")
	}
	for _, want := range []string{`unknown method "nope"`, "pfeiffer", "houlsby", "lora", "mam"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q: %s", want, errOut)
		}
	}
}

// Negative or zero sizes used to train the defaults silently.
func TestFinetuneRejectsNonPositiveFlags(t *testing.T) {
	_, errOut, code := gopeft(t, "finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "lora",
		"--steps", "-5", "--batch", "0")
	if code != 2 {
		t.Fatalf("exit %d, want 2 (usage); stderr: %s", code, errOut)
	}
	for _, want := range []string{"--batch 0", "--steps -5", "must be greater than 0"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q: %s", want, errOut)
		}
	}
}

func TestCompareJSONAndReload(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "grid")
	args := []string{"compare", "--model", tinyModelDir, "--task", tinyTaskFile, "--methods", "lora,ia3",
		"--steps", "4", "--batch", "4", "--runs", runs, "--json"}
	for round, wantLoaded := range []bool{false, true} {
		out, errOut, code := gopeft(t, args...)
		if code != 0 {
			t.Fatalf("round %d: exit %d: %s", round, code, errOut)
		}
		var res compare.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("output is not one JSON object: %v\n%s", err, out)
		}
		if len(res.Rows) != 2 || res.Rows[0].Method != "lora" || res.Rows[1].Method != "ia3" || res.MemoryMeasure == "" {
			t.Fatalf("round %d: %s", round, out)
		}
		for _, row := range res.Rows {
			if row.Loaded != wantLoaded || row.TrainableParams <= 0 || row.Steps != 4 || math.IsNaN(row.Test) {
				t.Errorf("round %d: row %+v (want loaded %v)", round, row, wantLoaded)
			}
		}
	}
	_, errOut, code := gopeft(t, "compare", "--model", tinyModelDir, "--task", tinyTaskFile, "--methods", "lora,nope")
	if code != 1 || !strings.Contains(errOut, `entry "nope": unknown preset`) || !strings.Contains(errOut, "houlsby") {
		t.Errorf("unknown method: exit %d, %s", code, errOut)
	}
}
