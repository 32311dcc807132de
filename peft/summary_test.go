package peft

import (
	"math"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/hf"
)

func TestSummaryClosedForms(t *testing.T) {
	m := tinyModel(t)
	cfg := m.Config
	s := NewSetup("houlsby", Houlsby()).Add("idle", Pfeiffer())
	s.Active = Name("houlsby")
	tu, err := NewTuned(m, s, ClassificationHead(3), 1)
	if err != nil {
		t.Fatal(err)
	}
	rows := Summary(tu)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want houlsby, idle, head, Full model", len(rows))
	}
	d, L := cfg.HiddenSize, cfg.NumLayers
	mUnits := d / 16
	module := 2*mUnits*d + mUnits + d // down + up with biases
	base := 0                         // encoder and pooler, without the MLM head
	for _, shape := range hf.ExpectedShapes(cfg) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		base += n
	}
	want := []SummaryRow{
		{"houlsby", "bottleneck", 2 * L * module, 0, true, true},
		{"idle", "bottleneck", L * module, 0, false, false},
		{"head", "classification head", d*d + d + 3*d + 3, 0, true, true},
		{"Full model", "", base, 100, true, false},
	}
	for i, w := range want {
		r := rows[i]
		w.Percent = 100 * float64(w.Params) / float64(base)
		if r.Name != w.Name || r.Architecture != w.Architecture || r.Params != w.Params || r.Active != w.Active || r.Train != w.Train || math.Abs(r.Percent-w.Percent) > 1e-9 {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
	txt := tu.SummaryTable()
	for _, s := range []string{"Name", "Architecture", "#Param", "%Param", "Active", "Train", "Full model", GroupDigits(base), "trainable params:"} {
		if !strings.Contains(txt, s) {
			t.Errorf("SummaryTable lacks %q:\n%s", s, txt)
		}
	}
	t.Logf("\n%s", txt)
	if GroupDigits(1234567) != "1,234,567" || GroupDigits(999) != "999" {
		t.Error("groupDigits")
	}
}
