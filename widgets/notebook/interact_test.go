package notebook

import (
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets"
)

func TestAdapterDropViewFollowsN(t *testing.T) {
	cfg, err := ShippedConfig()
	if err != nil {
		t.Fatal(err)
	}
	s := peft.NewSetup("houlsby", peft.Houlsby())
	all := s.NumParams(cfg)
	if got := DropParams(cfg, s, 0); got != all {
		t.Errorf("DropParams(0) = %d, want all %d", got, all)
	}
	if got := DropParams(cfg, s, cfg.NumLayers); got != 0 {
		t.Errorf("DropParams(all layers) = %d, want 0", got)
	}
	v0, v2 := AdapterDropView(cfg, s, 0), AdapterDropView(cfg, s, 2)
	if v0 == v2 || !strings.Contains(v2, peft.GroupDigits(DropParams(cfg, s, 2))) {
		t.Errorf("the view does not follow n:\n%s", v2)
	}
	if s.Drop.Layers != 0 {
		t.Errorf("AdapterDropView changed the caller's setup: Drop = %+v", s.Drop)
	}
}

func TestLiveCurveDrawsTheLoss(t *testing.T) {
	view := widgets.Output("curve", "")
	progress := LiveCurve(view)
	for step := 1; step <= 10; step++ {
		progress(train.Progress{Task: "sst2", Step: step, Steps: 10, Metrics: map[string]float64{"loss": 1 / float64(step)}})
	}
	progress(train.Progress{Task: "sst2", Step: 10, Steps: 10, Done: true, Metrics: map[string]float64{"dev_acc": 0.8}})
	svg := view.Str()
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "step 10 of 10") || strings.Count(svg, `class="series"`) != 1 {
		t.Errorf("the view is not the loss curve:\n%.300s", svg)
	}
}

func TestLoRAViewIsLinearInR(t *testing.T) {
	cfg, err := ShippedConfig()
	if err != nil {
		t.Fatal(err)
	}
	one := (&peft.LoRA{R: 1}).NumParams(cfg)
	v := LoRAView(cfg, peft.LoRA{}, 8)
	if one == 0 || !strings.Contains(v, peft.GroupDigits(8*one)) || !strings.Contains(v, "▶ r=8") {
		t.Errorf("LoRAView(r=8) lacks %s trainable parameters or the marked bar:\n%.400s", peft.GroupDigits(8*one), v)
	}
}
