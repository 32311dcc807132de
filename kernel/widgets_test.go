package kernel

import (
	"bufio"
	"io"
	"log"
	"net"
	"os"
	"testing"
)

func newTestHub() *widgetHub {
	return &widgetHub{models: map[string]*wmodel{}, byName: map[string]string{}, frontend: map[string]bool{}, watchers: map[*hubConn]bool{}}
}

func TestWidgetWireFormats(t *testing.T) {
	h := newTestHub()
	r, err := h.open(&hubRequest{Op: "open", Kind: "Dropdown", Name: "m", State: map[string]any{"options": []any{"lora", "ia3"}, "value": "ia3"}})
	if err != nil {
		t.Fatal(err)
	}
	m := h.models[r["id"].(string)]
	s6 := h.wireState(m, widgets6)
	if s6["_model_module"] != "jupyter-js-widgets" || s6["_model_module_version"] != "~2.1.4" || s6["value"] != "ia3" || s6["_model_name"] != "DropdownModel" {
		t.Errorf("ipywidgets 6 state: %v", s6)
	}
	if _, ok := s6["index"]; ok {
		t.Errorf("ipywidgets 6 selections sync the label, not an index: %v", s6)
	}
	s8 := h.wireState(m, widgets8)
	if s8["_model_module"] != "@jupyter-widgets/controls" || s8["_model_module_version"] != "2.0.0" || s8["index"] != 1 || s8["style"] == nil {
		t.Errorf("2.1.0 state: %v", s8)
	}
	if _, ok := s8["value"]; ok {
		t.Errorf("2.1.0 selections sync index, not value: %v", s8)
	}
	s7 := h.wireState(m, widgets7)
	if s7["_model_module_version"] != "1.5.0" || s7["index"] != 1 || h.meta(widgets7)["version"] != "2.0.0" {
		t.Errorf("2.0.0 state: %v", s7)
	}
	if st := h.wireState(h.models[m.style], widgets7); st["_model_module_version"] != "1.5.0" || st["_view_module_version"] != "1.2.0" {
		t.Errorf("2.0.0 style: %v", st)
	}
	out, _ := h.open(&hubRequest{Kind: "HTML"})
	if st := h.wireState(h.models[h.models[out["id"].(string)].style], widgets7); st["_model_name"] != "DescriptionStyleModel" {
		t.Errorf("controls 1.5.0 has no HTMLStyleModel: %v", st)
	}
	if lay := h.wireState(h.models[m.layout], widgets8); lay["_model_name"] != "LayoutModel" || lay["_model_module"] != "@jupyter-widgets/base" {
		t.Errorf("layout: %v", lay)
	}
	// A front-end's index comes back as the label; other keys are not the view's to change.
	got := h.canonical(m, map[string]any{"index": 0.0, "_options_labels": []any{"x"}})
	if len(got) != 1 || got["value"] != "lora" {
		t.Errorf("canonical = %v, want value lora", got)
	}
}

func TestWidgetReopenKeepsValue(t *testing.T) {
	h := newTestHub()
	first, _ := h.open(&hubRequest{Kind: "IntSlider", Name: "n", State: map[string]any{"value": 1.0, "min": 0.0, "max": 12.0}})
	h.models[first["id"].(string)].state["value"] = 7.0 // the reader moved it
	again, _ := h.open(&hubRequest{Kind: "IntSlider", Name: "n", State: map[string]any{"value": 1.0, "min": 0.0, "max": 12.0}})
	if again["id"] != first["id"] || again["state"].(map[string]any)["value"] != 7.0 {
		t.Errorf("re-running the cell: %v, want the same model with value 7", again)
	}
	// A new range that excludes the kept value takes the cell's.
	narrow, _ := h.open(&hubRequest{Kind: "IntSlider", Name: "n", State: map[string]any{"value": 2.0, "min": 0.0, "max": 4.0}})
	if narrow["state"].(map[string]any)["value"] != 2.0 {
		t.Errorf("value outside the new range kept: %v", narrow)
	}
	if _, err := h.open(&hubRequest{Kind: "Slider", Name: "x"}); err == nil {
		t.Error("an unknown kind is accepted")
	}
}

func TestWidgetSocketIsPrivate(t *testing.T) {
	k := &Kernel{logger: log.New(io.Discard, "", 0)}
	h, err := startWidgetHub(k, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	if st, err := os.Stat(h.path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("widget socket mode: %v %v, want 0600", st.Mode(), err)
	}
	c, err := net.Dial("unix", h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"seq":1,"op":"info"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != `{"frontend":0,"seq":1}`+"\n" {
		t.Errorf("info reply %q, %v", line, err)
	}
}
