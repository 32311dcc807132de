package notebook

import (
	"fmt"
	"path/filepath"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets"
)

// ShippedConfig reads the shipped encoder's config (no weights): enough for
// layer diagrams and parameter counts in an interactive cell.
func ShippedConfig() (hf.Config, error) {
	dir, err := ShippedModelDir()
	if err != nil {
		return hf.Config{}, err
	}
	return hf.ReadConfig(filepath.Join(dir, "config.json"))
}

// DropParams is the number of s's adapter parameters AdapterDrop leaves
// training when it drops the lowest n of cfg's layers: the per-layer
// methods' count times the layers kept. (Prompt and prefix parameters sit
// at the embeddings or in every layer's attention, and are counted as
// spread over the layers the same way.)
func DropParams(cfg hf.Config, s *peft.Setup, n int) int {
	if cfg.NumLayers <= 0 {
		return 0
	}
	n = max(0, min(n, cfg.NumLayers))
	return s.NumParams(cfg) * (cfg.NumLayers - n) / cfg.NumLayers
}

// AdapterDropView renders what dropping the lowest n layers' adapters does
// to s on a model of config cfg: the layer diagram (dropped adapters
// hatched) under a line with the adapter parameters still trained. It is
// the render function of an AdapterDrop slider:
//
//	n := widgets.IntSlider("drop", 0, 0, cfg.NumLayers)
//	widgets.Interact(func(v widgets.Values) string { return notebook.AdapterDropView(cfg, setup, v.Int("drop")) }, n)
func AdapterDropView(cfg hf.Config, s *peft.Setup, n int) string {
	dropped := *s
	dropped.Drop = peft.StaticDrop(max(0, min(n, cfg.NumLayers)))
	params := DropParams(cfg, s, n)
	line := fmt.Sprintf(`<p style="font-family:sans-serif;font-size:14px;margin:4px 0" data-trainable="%d">AdapterDrop n = %d: <b>%s</b> trainable adapter parameters (of %s), in %d of %d layers</p>`,
		params, dropped.Drop.Layers, peft.GroupDigits(params), peft.GroupDigits(s.NumParams(cfg)), cfg.NumLayers-dropped.Drop.Layers, cfg.NumLayers)
	diagram := widgets.LayerDiagram(Placements(&dropped, cfg.NumLayers), widgets.LayerDiagramOptions{
		Title: fmt.Sprintf("AdapterDrop: adapters of layers 0–%d dropped", dropped.Drop.Layers-1), NumLayers: cfg.NumLayers})
	if dropped.Drop.Layers == 0 {
		diagram = widgets.LayerDiagram(Placements(&dropped, cfg.NumLayers), widgets.LayerDiagramOptions{
			Title: "AdapterDrop: no layer dropped", NumLayers: cfg.NumLayers})
	}
	return line + diagram
}

// LiveCurve is a train.Options.Progress that streams the training loss
// into view (a widgets.Output) as a line chart, redrawn every few steps, so
// that a Button can start a run whose curve grows while it trains:
//
//	start := widgets.Button("train", "Train")
//	curve := widgets.Output("curve", "")
//	start.OnClick(func() { notebook.Finetune(dir, model, task, setup, train.Options{Progress: notebook.LiveCurve(curve)}) })
//	widgets.Show(widgets.VBox(start, curve))
//	widgets.Serve()
func LiveCurve(view *widgets.Control) func(train.Progress) {
	var loss widgets.Series
	return func(p train.Progress) {
		if l, ok := p.Metrics["loss"]; ok && !p.Done {
			loss.Name = "loss"
			loss.X = append(loss.X, float64(p.Step))
			loss.Y = append(loss.Y, l)
		}
		// About 50 redraws a run: each is a full SVG to the front-end.
		if every := max(1, p.Steps/50); p.Done || p.Step%every == 0 {
			title := fmt.Sprintf("Training loss on %s (step %d of %d)", p.Task, p.Step, p.Steps)
			view.Update(widgets.LineChart([]widgets.Series{loss}, widgets.LineChartOptions{Title: title, XLabel: "step", YLabel: "loss"}))
		}
	}
}

// LoRAView renders what LoRA's rank r costs on a model of config cfg: the
// trainable parameters of lora at rank r (its target modules as set; empty
// is query and value) as a line and a bar chart against ranks 1..64, so a
// rank slider shows the linear growth. The render function of
//
//	r := widgets.IntSlider("r", 8, 1, 64)
//	widgets.Interact(func(v widgets.Values) string { return notebook.LoRAView(cfg, peft.LoRA{}, v.Int("r")) }, r)
func LoRAView(cfg hf.Config, lora peft.LoRA, r int) string {
	r = max(1, r)
	at := func(rank int) int {
		l := lora
		l.R = rank
		return l.NumParams(cfg)
	}
	targets := "query, value"
	if len(lora.TargetModules) > 0 {
		targets = fmt.Sprint(lora.TargetModules)
	}
	var bars []widgets.Bar
	for _, rank := range []int{1, 2, 4, 8, 16, 32, 64} {
		label := fmt.Sprintf("r=%d", rank)
		if rank == r {
			label = "▶ " + label
		}
		bars = append(bars, widgets.Bar{Label: label, Value: float64(at(rank))})
	}
	line := fmt.Sprintf(`<p style="font-family:sans-serif;font-size:14px;margin:4px 0" data-trainable="%d">LoRA r = %d on %s in %d layers: <b>%s</b> trainable parameters (r·(d_in + d_out) per adapted matrix)</p>`,
		at(r), r, targets, cfg.NumLayers, peft.GroupDigits(at(r)))
	return line + widgets.BarChart(bars, widgets.BarChartOptions{Title: "LoRA trainable parameters by rank", XLabel: "trainable parameters", Format: "%.0f"})
}
