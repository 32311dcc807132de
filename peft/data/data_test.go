package data

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// realCache skips unless `gopeft data fetch` has filled the default cache.
func realCache(t *testing.T) {
	t.Helper()
	if ok, detail := CacheStatus(); !ok {
		t.Skipf("real datasets absent (%s); run `gopeft data fetch` to test against them", detail)
	}
}

// The documented counts (README.md); splits do not depend on the seed.
var realCounts = map[string][4]int{ // train, dev, test, total
	"spam":       {4715, 590, 590, 5895},
	"sotu-party": {16886, 2111, 2111, 21108},
	"sotu-era":   {18181, 2272, 2272, 22725},
	"source":     {4434, 554, 554, 5542},
	"polarity":   {5427, 678, 678, 6783},
	"names":      {6401, 801, 801, 8003},
	"afinn":      {1979, 249, 249, 2477},
}

var realClassCounts = map[string][]int{
	"spam":       {4108, 1787},
	"sotu-party": {9789, 9947, 1372},
	"sotu-era":   {6132, 9390, 3500, 3703},
	"source":     {2771, 2771},
	"polarity":   {4780, 2003},
	"names":      {4525, 3478},
}

func TestRealTaskCounts(t *testing.T) {
	realCache(t)
	if len(Tasks()) != len(realCounts) {
		t.Errorf("%d tasks, %d documented", len(Tasks()), len(realCounts))
	}
	for _, info := range Tasks() {
		for _, seed := range []int64{0, 7} {
			task, err := Load(info.Name, Options{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			got := [4]int{len(task.Train), len(task.Dev), len(task.Test), len(task.Train) + len(task.Dev) + len(task.Test)}
			if got != realCounts[info.Name] {
				t.Errorf("%s seed %d: train/dev/test/total = %v, want %v", info.Name, seed, got, realCounts[info.Name])
			}
			if info.Regression {
				continue
			}
			classes := make([]int, len(task.Labels))
			for _, s := range [][]Example{task.Train, task.Dev, task.Test} {
				for _, e := range s {
					classes[e.Label]++
				}
			}
			if !reflect.DeepEqual(classes, realClassCounts[info.Name]) {
				t.Errorf("%s: class counts %v, want %v", info.Name, classes, realClassCounts[info.Name])
			}
		}
	}
}

func TestRealPretrainText(t *testing.T) {
	realCache(t)
	texts, err := PretrainText("")
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 25496 {
		t.Errorf("PretrainText: %d passages, want 25496", len(texts))
	}
	if !strings.HasPrefix(texts[0], "Call me Ishmael.") {
		t.Errorf("first passage %.40q, want Moby Dick's opening", texts[0])
	}
}

func labelCounts(ex []Example) map[int]int {
	m := map[int]int{}
	for _, e := range ex {
		m[e.Label]++
	}
	return m
}

// synthetic builds an imbalanced two-class pool: 900 of class 0, 100 of 1.
func synthetic() []Example {
	var pool []Example
	for i := 0; i < 1000; i++ {
		label := 0
		if i%10 == 0 {
			label = 1
		}
		pool = append(pool, Example{Text: strings.Repeat("x", i%37) + string(rune('a'+i%26)) + string(rune(i)), Label: label})
	}
	return pool
}

func splitOf(pool []Example, opts Options) *Task {
	t := &Task{Name: "synthetic", Labels: []string{"a", "b"}}
	split(t, pool, opts)
	return t
}

func TestSplitDeterministicStratified(t *testing.T) {
	pool := synthetic()
	a := splitOf(pool, Options{Seed: 1})
	b := splitOf(pool, Options{Seed: 1})
	c := splitOf(pool, Options{Seed: 2})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different split")
	}
	if reflect.DeepEqual(a.Test, c.Test) {
		t.Fatal("different seeds, same test split")
	}
	for _, task := range []*Task{a, c} {
		if got := labelCounts(task.Test); got[0] != 90 || got[1] != 10 {
			t.Errorf("test classes %v, want 90/10", got)
		}
		if got := labelCounts(task.Dev); got[0] != 90 || got[1] != 10 {
			t.Errorf("dev classes %v, want 90/10", got)
		}
		if got := labelCounts(task.Train); got[0] != 720 || got[1] != 80 {
			t.Errorf("train classes %v, want 720/80", got)
		}
		// Disjoint splits covering the pool.
		seen := map[string]int{}
		for _, s := range [][]Example{task.Train, task.Dev, task.Test} {
			for _, e := range s {
				seen[e.Text]++
			}
		}
		if len(seen) != len(pool) {
			t.Errorf("splits cover %d of %d examples", len(seen), len(pool))
		}
	}
	if got := MajorityBaseline(a); got != 0.9 {
		t.Errorf("MajorityBaseline = %v, want 0.9", got)
	}
}

func TestKShotAndMax(t *testing.T) {
	pool := synthetic()
	full := splitOf(pool, Options{Seed: 3})
	k := splitOf(pool, Options{Seed: 3, KPerClass: 4})
	if got := labelCounts(k.Train); got[0] != 4 || got[1] != 4 || len(k.Train) != 8 {
		t.Errorf("k-shot train classes %v", got)
	}
	if !reflect.DeepEqual(k.Test, full.Test) || !reflect.DeepEqual(k.Dev, full.Dev) {
		t.Error("k-shot changed dev/test")
	}
	// The k examples are a subset of the full training split.
	in := map[string]bool{}
	for _, e := range full.Train {
		in[e.Text] = true
	}
	for _, e := range k.Train {
		if !in[e.Text] {
			t.Errorf("k-shot example %q not in the full train split", e.Text)
		}
	}
	m := splitOf(pool, Options{Seed: 3, MaxExamples: 200})
	if n := len(m.Train) + len(m.Dev) + len(m.Test); n != 200 {
		t.Errorf("MaxExamples 200 gave %d", n)
	}
	if got := labelCounts(m.Test); got[0] != 18 || got[1] != 2 {
		t.Errorf("MaxExamples test classes %v, want 18/2", got)
	}
}

func TestLoadFileCSVAndJSONL(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "mine.csv")
	var b strings.Builder
	b.WriteString("id,label,text\n")
	for i := 0; i < 40; i++ {
		label := "pos"
		if i%4 == 0 {
			label = "neg"
		}
		b.WriteString(`x,` + label + `,"text, number ` + string(rune('A'+i)) + "\"\n")
	}
	os.WriteFile(csvPath, []byte(b.String()), 0o644)
	task, err := LoadFile(csvPath, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(task.Labels, []string{"neg", "pos"}) || task.Regression || task.Name != "mine" {
		t.Errorf("task = %+v", task)
	}
	if len(task.Train) != 32 || len(task.Dev) != 4 || len(task.Test) != 4 {
		t.Errorf("splits %d/%d/%d, want 32/4/4", len(task.Train), len(task.Dev), len(task.Test))
	}
	if !strings.HasPrefix(task.Train[0].Text, "text, number ") {
		t.Errorf("quoted CSV text = %q", task.Train[0].Text)
	}

	jl := filepath.Join(dir, "mine.jsonl")
	os.WriteFile(jl, []byte(`{"text":"a","label":2}
{"text":"b","label":10}

{"text":"c","label":2}
`), 0o644)
	task, err = LoadFile(jl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(task.Labels, []string{"2", "10"}) {
		t.Errorf("integer labels sort numerically: %v", task.Labels)
	}
	os.WriteFile(jl, []byte(`{"text":"a","label":0.5}`+"\n"+`{"text":"b","label":-1}`+"\n"), 0o644)
	task, err = LoadFile(jl, Options{})
	if err != nil || !task.Regression || task.Labels != nil {
		t.Fatalf("regression: %+v %v", task, err)
	}
	if all := append(append(task.Train, task.Dev...), task.Test...); len(all) != 2 || math.Abs(all[0].Value+all[1].Value-(-0.5)) > 1e-12 {
		t.Errorf("values = %+v", all)
	}

	for content, want := range map[string]string{
		"words,label\nx,1\n":   "text and label",
		`{"text":"a"}` + "\n":  `"label"`,
		`{"text":"a","label"}`: "line 1",
	} {
		name := filepath.Join(dir, "bad.csv")
		if strings.HasPrefix(content, "{") {
			name = filepath.Join(dir, "bad.jsonl")
		}
		os.WriteFile(name, []byte(content), 0o644)
		if _, err := LoadFile(name, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadFile(%q) error = %v, want it to mention %s", content, err, want)
		}
	}
	if _, err := LoadFile(filepath.Join(dir, "x.txt"), Options{}); err == nil {
		t.Error("want an error for a missing/unknown file")
	}
}
