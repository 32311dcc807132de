package notebook

import (
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
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
