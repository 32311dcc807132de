// Package widgets renders GoPEFT's visualisations — line charts, layer diagrams,
// heatmaps, tables, bar charts and a training progress bar — as self-contained,
// static SVG or HTML strings.
//
//	chart := widgets.LineChart([]widgets.Series{{Name: "loss", X: []float64{1, 2, 3}, Y: []float64{0.9, 0.5, 0.4}}},
//		widgets.LineChartOptions{Title: "Training loss", XLabel: "step"})
//	widgets.Display(chart) // in a GoNB cell; widgets.SaveSVG(path, chart) elsewhere
//
// Nothing here emits JavaScript or external references: the output survives
// being saved in a notebook, rendered on GitHub, or exported with
// `jupyter nbconvert --to html` with scripts disabled. Styling uses
// presentation attributes and inline styles (no <style> blocks, which some
// sanitisers strip), a system sans-serif font, and the Okabe-Ito colour-blind
// safe palette. SVGs carry a viewBox and max-width:100%, so they shrink with
// the cell. All user text is escaped.
//
// Display shows a rendering from a GoNB cell; SaveSVG and Page write them
// for the CLI.
//
// Controls — IntSlider, FloatSlider, Dropdown, ToggleButtons, Checkbox,
// Button, Text, HBox/VBox and Output views — are standard Jupyter widgets
// whose models the gopeft kernel holds (controls.go): each is named, keeps
// its value after its cell, and Value(name) reads it in any later cell.
// Interact re-renders a view as the reader moves controls:
//
//	n := widgets.IntSlider("drop", 0, 0, 12)
//	widgets.Interact(func(v widgets.Values) string { return view(v.Int("drop")) }, n)
//
// Serve (which Interact calls) waits while a widget front-end listens, until
// its Done button or an interrupt; under nbconvert it returns at once and
// the output keeps a static HTML snapshot, as the plots above.
package widgets
