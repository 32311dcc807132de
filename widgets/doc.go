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
package widgets
