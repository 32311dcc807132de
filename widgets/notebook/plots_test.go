package notebook

import (
	"math"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets"
)

func TestFusionAttentionForTheHeatmap(t *testing.T) {
	m, err := peft.NewModel(peftest.TinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := peft.NewSetup("a", peft.Pfeiffer()).Add("b", peft.Pfeiffer())
	s.Active = peft.Fuse("a", "b")
	tu, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := FusionAttention(tu, peft.Batch{IDs: peftest.TinyIDs(), Mask: peftest.TinyMask()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Layers) != peftest.TinyConfig().NumLayers || strings.Join(a.Adapters, ",") != "a,b" {
		t.Fatalf("layers %v adapters %v", a.Layers, a.Adapters)
	}
	for i, w := range a.Weights {
		if len(w) != 2 || math.Abs(w[0]+w[1]-1) > 1e-5 {
			t.Errorf("layer %d: mean attention %v does not sum to 1", a.Layers[i], w)
		}
	}
	if svg := widgets.FusionHeatmap(a, widgets.FusionHeatmapOptions{}); strings.Count(svg, `class="cell"`) != 2*len(a.Layers) {
		t.Error("heatmap does not have one cell per layer x adapter")
	}
	s.Active = peft.Name("a")
	if _, err := FusionAttention(tu, peft.Batch{}, nil); err == nil || !strings.Contains(err.Error(), "Fuse") {
		t.Errorf("no Fuse active: err = %v", err)
	}
}

func TestMeanFusionAttention(t *testing.T) {
	a := MeanFusionAttention(map[int][][]float64{3: {{0.2, 0.8}, {0.4, 0.6}}, 1: {{1, 0}}}, []string{"x", "y"})
	if len(a.Layers) != 2 || a.Layers[0] != 1 || a.Layers[1] != 3 || math.Abs(a.Weights[1][0]-0.3) > 1e-12 {
		t.Errorf("MeanFusionAttention = %+v", a)
	}
}

func TestMethodResultsAndCompareRows(t *testing.T) {
	m, err := peft.NewModel(peftest.TinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	tu, err := peft.NewTuned(m, peft.NewSetup("lora", peft.DefaultLoRA()), peft.ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	run := &train.Run{Tuned: tu, Metrics: map[string]float64{"test_accuracy": 0.9}, TrainSeconds: 12, Options: train.Options{BatchSize: 8, MaxLen: 16}}
	runs := map[string]*train.Run{"lora": run}
	c := tu.Counts()
	res := MethodResults(runs, "")
	if len(res) != 1 || res[0].Accuracy != 0.9 || math.Abs(res[0].TrainablePercent-100*float64(c.Trainable)/float64(c.Total)) > 1e-12 {
		t.Errorf("MethodResults = %+v", res)
	}
	if r := MethodResults(runs, "dev_accuracy"); !math.IsNaN(r[0].Accuracy) {
		t.Error("a missing metric should be NaN (not drawn), not 0")
	}
	rows := CompareRows(runs)
	if len(rows) != 1 || rows[0].TrainableParams != c.Trainable || rows[0].TotalParams != c.Total || rows[0].Seconds != 12 || !(rows[0].MemoryMB > 0) {
		t.Errorf("CompareRows = %+v", rows)
	}
}
