// Package widgets renders GoPEFT's visualisations — line charts, layer diagrams,
// heatmaps, tables, bar charts and a training progress bar — as self-contained,
// static SVG or HTML strings.
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
