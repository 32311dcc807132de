package notebook

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
)

func TestShippedModelDir(t *testing.T) {
	t.Setenv("GOPEFT_MODEL", "")
	t.Setenv("GOPEFT_ROOT", "")
	dir, err := ShippedModelDir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != ShippedModel {
		t.Errorf("ShippedModelDir = %s", dir)
	}
}

func TestRunsDir(t *testing.T) {
	t.Setenv("GOPEFT_RUNS", "/tmp/runs")
	if got := RunsDir("a"); got != "/tmp/runs/a" {
		t.Errorf("RunsDir = %s", got)
	}
}

func TestPlacementsAreLayerSites(t *testing.T) {
	s := peft.NewSetup("ia3", &peft.IA3{TargetModules: []string{"query"}})
	s.Drop = peft.StaticDrop(1)
	sites := Placements(s, 2)
	if len(sites) != 2 || sites[0].Site != "query" || sites[0].Method != "ia3" || !sites[0].Dropped || sites[1].Dropped {
		t.Errorf("Placements = %+v, want query in both layers, layer 0 dropped", sites)
	}
}

func TestCurves(t *testing.T) {
	nan := math.NaN()
	r := &train.Run{Curve: []train.Point{
		{Step: 1, TaskLoss: 2, DevAcc: nan}, {Step: 2, TaskLoss: 4, DevAcc: 0.5}, {Step: 3, TaskLoss: 6, DevAcc: nan},
	}}
	loss, acc := Curves(map[string]*train.Run{"a": r}, 2)
	if got := loss[0].Y; len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 5 {
		t.Errorf("smoothed loss %v, want [2 3 5]", got)
	}
	if len(acc[0].X) != 1 || acc[0].X[0] != 2 || acc[0].Y[0] != 0.5 {
		t.Errorf("dev accuracy %+v, want one point at step 2", acc[0])
	}
	stored, _ := Curves(map[string]*runstore.Run{"b": {Run: r}}, 2)
	if stored[0].Name != "b" || len(stored[0].Y) != 3 {
		t.Errorf("curves of stored runs: %+v", stored)
	}
}

func TestSummaryHTMLAndMemory(t *testing.T) {
	m, err := peft.NewModel(peftest.TinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := peft.NewSetup("houlsby", peft.Houlsby())
	tu, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if h := SummaryHTML(tu); !strings.Contains(h, "<table") || !strings.Contains(h, "houlsby") || !strings.Contains(h, "trainable params") {
		t.Errorf("SummaryHTML is not the summary table: %s", h)
	}
	ms := MemorySeries(m, "h", s, 16, []int{1, 2, 4})
	if len(ms.Y) != 3 || !(ms.Y[0] < ms.Y[1] && ms.Y[1] < ms.Y[2]) {
		t.Errorf("memory series %v does not grow with the batch", ms.Y)
	}
}
