package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/estimate"
)

func TestEstimateLogMEJSON(t *testing.T) {
	var b strings.Builder
	var f [][]float64
	var y []int
	for i := range 30 {
		row := []float64{float64(i%3) + 0.1*float64(i%7), math.Sin(float64(i)), float64(i % 2)}
		f, y = append(f, row), append(y, i%3)
		js, _ := json.Marshal(map[string]any{"features": row, "label": i % 3})
		fmt.Fprintf(&b, "%s\n", js)
	}
	path := filepath.Join(t.TempDir(), "f.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := gopeft(t, "estimate", "logme", "--in", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	want, err := estimate.LogME(f, y)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["logme"] != want {
		t.Errorf("printed %v, want {\"logme\": %v}", got, want)
	}
	if err := os.WriteFile(path, []byte(`{"features": [1, 2]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := gopeft(t, "estimate", "logme", "--in", path); code == 0 || !strings.Contains(stderr, `"label"`) {
		t.Errorf("a line without a label: exit %d, %q", code, stderr)
	}
}

func TestEstimateCurveJSON(t *testing.T) {
	var b strings.Builder
	for _, n := range []float64{10, 20, 40, 80, 160} {
		fmt.Fprintf(&b, "{\"n\": %g, \"value\": %g}\n", n, 0.9-math.Pow(n, -0.5))
	}
	path := filepath.Join(t.TempDir(), "c.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := gopeft(t, "estimate", "curve", "--in", path, "--target", "1000", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		A    float64 `json:"a"`
		Band struct {
			Predicted float64 `json:"predicted"`
		} `json:"band"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.A-0.9) > 1e-3 || math.Abs(got.Band.Predicted-(0.9-math.Pow(1000, -0.5))) > 1e-3 {
		t.Errorf("fit a=%g, prediction at 1000 %g", got.A, got.Band.Predicted)
	}
}

func TestEstimateMemoryStillDefault(t *testing.T) {
	// `gopeft estimate --model ...` (no subcommand) and `estimate memory` are the memory table.
	for _, args := range [][]string{{"estimate"}, {"estimate", "memory"}} {
		a := append(args, "--model", tinyModelDir, "--method", "lora", "--batch-sizes", "2,4", "--seq-len", "8", "--json")
		out, stderr, code := gopeft(t, a...)
		if code != 0 || !strings.Contains(out, `"estimates"`) {
			t.Errorf("%v: exit %d, %s %s", args, code, out, stderr)
		}
	}
}
