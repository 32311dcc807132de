package compare

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

func TestCompareTinyGridReloads(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(80, 2)
	dir := filepath.Join(t.TempDir(), "grid")
	steps := map[string]int{}
	opt := Options{
		Train: train.Options{Steps: 12, BatchSize: 8, LearningRate: 3e-3, Seed: 1},
		Dir:   dir,
		Progress: func(entry string, p train.Progress) {
			if !p.Done {
				steps[entry]++
			}
		},
	}
	entries := append(Methods("lora", "ia3"), Entry{Name: "pfeiffer4", Setup: peft.NewSetup("pfeiffer", trainingtest.Pfeiffer4())})
	res, err := opt.Compare(m, task, entries...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Markdown())
	if len(res.Rows) != 3 || res.Rows[0].Method != "lora" || res.Rows[2].Method != "pfeiffer4" {
		t.Fatalf("rows %+v", res.Rows)
	}
	for _, row := range res.Rows {
		if row.Error != "" {
			t.Fatalf("%s: %s", row.Method, row.Error)
		}
		if steps[row.Method] != 12 || row.Steps != 12 || row.Loaded {
			t.Errorf("%s: %d progress steps, %d curve steps, loaded %v; want 12 trained", row.Method, steps[row.Method], row.Steps, row.Loaded)
		}
		if row.TrainableParams <= 0 || row.TrainableParams >= row.TotalParams ||
			math.Abs(row.TrainablePercent-100*float64(row.TrainableParams)/float64(row.TotalParams)) > 1e-9 {
			t.Errorf("%s: %d of %d trainable, %.4f%%", row.Method, row.TrainableParams, row.TotalParams, row.TrainablePercent)
		}
		if row.Dev != row.Metrics["dev_accuracy"] || row.Test != row.Metrics["test_accuracy"] || math.IsNaN(row.Test) {
			t.Errorf("%s: dev %v test %v, metrics %v", row.Method, row.Dev, row.Test, row.Metrics)
		}
		if row.TrainSeconds <= 0 || math.Abs(row.StepSeconds*12-row.TrainSeconds) > 1e-9 {
			t.Errorf("%s: train %vs, step %vs", row.Method, row.TrainSeconds, row.StepSeconds)
		}
		if runtime.GOOS == "linux" && (row.PeakRSSBytes <= 0 || row.PeakRSSDeltaBytes < 0 || row.PeakRSSDeltaBytes > row.PeakRSSBytes) {
			t.Errorf("%s: peak RSS %d, delta %d", row.Method, row.PeakRSSBytes, row.PeakRSSDeltaBytes)
		}
	}
	// IA3's vectors are fewer parameters than LoRA's rank-8 q/v matrices.
	if lora, ia3 := res.Row("lora"), res.Row("ia3"); ia3.TrainableParams >= lora.TrainableParams {
		t.Errorf("implausible counts: lora %d, ia3 %d", lora.TrainableParams, ia3.TrainableParams)
	}

	// Again: every entry loads, trains nothing, and reports what was measured.
	clear(steps)
	again, err := opt.Compare(m, task, entries...)
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range again.Rows {
		first := res.Rows[i]
		if !row.Loaded || steps[row.Method] != 0 {
			t.Errorf("%s: re-run loaded %v and trained %d steps", row.Method, row.Loaded, steps[row.Method])
		}
		if row.Test != first.Test || row.TrainSeconds != first.TrainSeconds || row.PeakRSSBytes != first.PeakRSSBytes || row.ConfigHash != first.ConfigHash {
			t.Errorf("%s: re-run %+v, first %+v", row.Method, row, first)
		}
	}

	// The grid file is the result, NaN-free JSON that reads back.
	raw, err := os.ReadFile(filepath.Join(dir, GridFile))
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 3 || back.Rows[1].Test != again.Rows[1].Test || back.MemoryMeasure == "" {
		t.Errorf("grid file reads back as %+v", back)
	}
}

func TestCompareRejectsBadEntriesBeforeTraining(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(40, 1)
	trained := false
	opt := Options{Train: train.Options{Steps: 2}, Progress: func(string, train.Progress) { trained = true }}
	for _, c := range []struct {
		entries []Entry
		want    string
	}{
		{Methods("lora", "no-such-method"), `entry "no-such-method": unknown preset`},
		{Methods("lora", "lora"), "appears twice"},
		{[]Entry{{Setup: peft.NewSetup("x", peft.DefaultLoRA())}}, "has no name"},
		{[]Entry{{Name: "../up", Setup: peft.NewSetup("x", peft.DefaultLoRA())}}, "plain name"},
		{nil, "at least one entry"},
	} {
		_, err := opt.Compare(m, task, c.entries...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.entries, err, c.want)
		}
	}
	if trained {
		t.Error("a grid with a bad entry trained")
	}
}

func TestRowJSONWritesNaNAsNull(t *testing.T) {
	js, err := json.Marshal(Row{Method: "x", Dev: math.NaN(), Test: 0.5, Metrics: map[string]float64{"dev_accuracy": math.NaN()}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"dev":null`) || !strings.Contains(string(js), `"test":0.5`) || !strings.Contains(string(js), `"dev_accuracy":null`) {
		t.Errorf("JSON %s", js)
	}
	var back Row
	if err := json.Unmarshal(js, &back); err != nil || !math.IsNaN(back.Dev) || back.Test != 0.5 || back.Method != "x" {
		t.Errorf("read back %+v, %v", back, err)
	}
}
