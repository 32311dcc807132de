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
// # Teaching plots
//
// One function per figure the library teaches; each takes plain data and
// returns one self-contained SVG (CompareTable: HTML) whose first element is
// a <title>. Accuracies are fractions (as train.Run.Metrics reports them),
// shown in percent; series differ by colour, dash and marker, so prints in
// greyscale still read. widgets/notebook builds the inputs from runs.
//
//   - AccuracyVsParams([]MethodResult, AccuracyVsParamsOptions): accuracy vs
//     % trainable parameters on a log x axis (decade ticks), one labelled
//     marker per method, optional full fine-tuning reference line.
//   - FusionHeatmap(FusionAttention, FusionHeatmapOptions): AdapterFusion
//     attention, one cell per layer x adapter, highest layer on top, values
//     printed, scale fixed to 0..1.
//   - AdapterDropChart([]DropPoint, AdapterDropOptions): accuracy and speed
//     against n (layers dropped) in two stacked panels sharing the x axis.
//   - SparsityChart([]Series, SparsityOptions): pruning curves, accuracy vs
//     fraction pruned, one line per strategy (learned vs random), optional
//     unpruned reference.
//   - DistillationChart([]DistillModel, DistillationOptions): teacher and
//     students, accuracy bars beside parameter-count bars.
//   - PredictedVsActual([]Prediction, PredictedVsActualOptions): estimator
//     check on a square range with y = x; Kendall's τ-b (KendallTau) in the
//     title and legend.
//   - MemoryVsBatch([]Series, MemoryOptions): estimated memory vs batch size
//     (log x at the given sizes, y from 0) with the device limit line.
//   - LearningCurveChart(LearningCurve, LearningCurveOptions): measured
//     points, a fit (solid) and its extrapolation (dashed) with a shaded band.
//   - CompareTable([]CompareRow, CompareTableOptions): method, trainable
//     parameters and %, metrics, time, memory; the best row highlighted.
//
// LayerDiagram marks each layer row <g class="layer" data-layer="N">, and
// "layer dropped" where AdapterDrop removed all its adapters (drawn faded;
// its site markers hatched), so tests and readers can check what was dropped.
// TestPreviewFiles writes every plot to $WIDGETS_PREVIEW_DIR, one file each.
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
