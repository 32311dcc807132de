package widgets

import (
	"strings"
	"testing"
)

// Outside the kernel (no GOPEFT_WIDGETS), controls live in the process.
func TestControlsWithoutKernel(t *testing.T) {
	t.Setenv("GOPEFT_WIDGETS", "")
	s := IntSlider("ctl-n", 20, 0, 12)
	if s.Int() != 12 {
		t.Errorf("IntSlider clamps 20 into [0, 12]: got %d", s.Int())
	}
	d := Dropdown("ctl-m", []string{"lora", "ia3"}, "bitfit")
	if d.Str() != "lora" {
		t.Errorf("Dropdown with a value not among the options picks the first: got %q", d.Str())
	}
	if v := Value("ctl-n"); v != 12 {
		t.Errorf("Value(ctl-n) = %#v, want 12", v)
	}
	if Value("no-such-control") != nil {
		t.Error("Value of an unknown name is not nil")
	}
	c := Checkbox("ctl-c", true)
	if Value("ctl-c") != true || FloatSlider("ctl-f", 0.5, 0, 1, 0.1).Float() != 0.5 {
		t.Error("Checkbox/FloatSlider values")
	}
	box := VBox(HBox(s, d, c), Button("ctl-b", "Go"), Output("ctl-o", "<b>view</b>"))
	html := box.HTML()
	for _, want := range []string{"ctl-n</span> 12", "(of lora | ia3)", "☑", ">Go</span>", "<b>view</b>"} {
		if !strings.Contains(html, want) {
			t.Errorf("snapshot lacks %q:\n%s", want, html)
		}
	}
	if got := box.Text(); got != "VBox(HBox(IntSlider(ctl-n=12), Dropdown(ctl-m=lora), Checkbox(ctl-c=true)), Button(Go), Output(ctl-o))" {
		t.Errorf("Text = %s", got)
	}
}

func TestInteractWithoutFrontEndRendersOnce(t *testing.T) {
	t.Setenv("GOPEFT_WIDGETS", "")
	calls := 0
	view := Interact(func(v Values) string { calls++; return "r=" + v.String("ctl-r") }, Text("ctl-r", "x"))
	if calls != 1 || view.Str() != "r=x" {
		t.Errorf("Interact without a front-end: %d renders, view %q; want 1 and r=x", calls, view.Str())
	}
}
