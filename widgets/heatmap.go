package widgets

import (
	"fmt"
	"math"
)

// HeatmapOptions controls a Heatmap. RowLabels/ColLabels default to indices;
// Min/Max pin the colour range (values outside are clamped). CellSize 0 fits
// the grid to about 600 px wide; cells never shrink below 2 px. ShowValues
// prints values only where cells are large enough to hold them.
type HeatmapOptions struct {
	Title, XLabel, YLabel string
	RowLabels, ColLabels  []string
	ScaleLabel            string // beside the colour scale, e.g. "attention weight"
	Min, Max              *float64
	ShowValues            bool
	CellSize              int
}

// viridisStops are control points of matplotlib's viridis map (perceptually
// uniform, colour-blind safe); colours between them are interpolated.
var viridisStops = [][3]float64{
	{68, 1, 84}, {72, 40, 120}, {62, 74, 137}, {49, 104, 142}, {38, 130, 142},
	{31, 158, 137}, {53, 183, 121}, {109, 205, 89}, {180, 222, 44}, {253, 231, 37},
}

// Viridis maps t in [0, 1] to a hex colour.
func Viridis(t float64) string {
	if math.IsNaN(t) {
		return "#d9d9d9"
	}
	t = math.Max(0, math.Min(1, t))
	x := t * float64(len(viridisStops)-1)
	i := int(x)
	if i >= len(viridisStops)-1 {
		i = len(viridisStops) - 2
	}
	u := x - float64(i)
	a, c := viridisStops[i], viridisStops[i+1]
	return fmt.Sprintf("#%02x%02x%02x",
		int(math.Round(a[0]+(c[0]-a[0])*u)), int(math.Round(a[1]+(c[1]-a[1])*u)), int(math.Round(a[2]+(c[2]-a[2])*u)))
}

// Heatmap renders a rows x cols matrix as an SVG grid of <rect class="cell">
// with a colour-scale legend. Rows may have different lengths (missing cells
// are left blank); NaN/Inf cells are grey. Large grids thin their labels and
// drop per-cell tooltips to keep the SVG small.
func Heatmap(values [][]float64, opt HeatmapOptions) string {
	rows := len(values)
	cols := 0
	for _, r := range values {
		cols = max(cols, len(r))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range values {
		for _, v := range r {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if opt.Min != nil && finite(*opt.Min) {
		lo = *opt.Min
	}
	if opt.Max != nil && finite(*opt.Max) {
		hi = *opt.Max
	}
	if !(lo <= hi) {
		lo, hi = 0, 1
	}
	if lo == hi { // all equal: centre the single colour in the scale
		d := math.Max(math.Abs(lo)*0.1, 0.5)
		if opt.Min == nil {
			lo -= d
		}
		if opt.Max == nil {
			hi += d
		}
		if lo == hi {
			hi = lo + 1
		}
	}

	// Cell geometry.
	cw := float64(opt.CellSize)
	if cw <= 0 {
		cw = 40
		if cols > 0 {
			cw = math.Min(40, math.Floor(600/float64(cols)))
		}
	}
	cw = math.Max(cw, 2)
	ch := cw
	if rows > 0 && opt.CellSize <= 0 && float64(rows)*ch > 480 {
		ch = math.Max(2, math.Floor(480/float64(rows)))
	}
	if rows > 0 && opt.CellSize <= 0 && rows <= 40 {
		// Few rows, many columns (e.g. 4 layers x 64 units): make rows taller
		// than the narrow columns so the map is readable and labels fit.
		ch = math.Max(ch, math.Max(12, math.Min(28, math.Floor(160/float64(rows)))))
	}

	rowLab := func(i int) string {
		if i < len(opt.RowLabels) {
			return opt.RowLabels[i]
		}
		return fmt.Sprint(i)
	}
	colLab := func(j int) string {
		if j < len(opt.ColLabels) {
			return opt.ColLabels[j]
		}
		return fmt.Sprint(j)
	}
	// Label thinning: show every k-th label, k a 1-2-5 step so indices read
	// naturally (0, 8, 16 ... would be odd; 0, 10, 20 is not).
	rowEvery := thinStep(ch, 13)
	maxRowW := 0.0
	for i := 0; i < rows; i += rowEvery {
		maxRowW = math.Max(maxRowW, textWidth(truncate(rowLab(i), 16), 11))
	}
	maxColW := 0.0
	for j := 0; j < cols; j++ {
		maxColW = math.Max(maxColW, textWidth(truncate(colLab(j), 16), 11))
	}
	rotate := maxColW > cw*float64(thinStep(cw, 16))-2 && len(opt.ColLabels) > 0
	colEvery := thinStep(cw, maxColW+6)
	if rotate {
		colEvery = thinStep(cw, 14)
	}

	left := maxRowW + 12
	if opt.YLabel != "" {
		left += 20
	}
	top := 14.0
	if opt.Title != "" {
		top = 40
	}
	labelH := 18.0
	if rotate {
		labelH = maxColW*0.72 + 10
	}
	gw, gh := cw*float64(cols), ch*float64(rows)
	bottom := labelH + 10
	if opt.XLabel != "" {
		bottom += 20
	}
	if opt.XLabel != "" { // room for the x label centred under the grid
		left = math.Max(left, textWidth(opt.XLabel, 13)/2-gw/2+8)
	}
	legendX := left + gw + 24
	W := legendX + 70
	if opt.ScaleLabel != "" {
		W += 18
	}
	if opt.XLabel != "" {
		W = math.Max(W, left+gw/2+textWidth(opt.XLabel, 13)/2+8)
	}
	H := top + math.Max(gh, 120) + bottom
	if opt.Title != "" {
		W = math.Max(W, textWidth(opt.Title, 16)+24)
	}
	b := &svgBuilder{w: W, h: H}
	if opt.Title != "" {
		b.text(W/2, 24, 16, "middle", colText, "600", opt.Title, "")
	}

	t := func(v float64) float64 { return (v - lo) / (hi - lo) }
	tooltips := rows*cols <= 2000
	showValues := opt.ShowValues && cw >= 30 && ch >= 16
	b.printf(`<g shape-rendering="crispEdges">`)
	for i, r := range values {
		for j, v := range r {
			col := Viridis(t(v))
			if !finite(v) {
				col = Viridis(math.NaN())
			}
			b.printf(`<rect class="cell" x="%s" y="%s" width="%s" height="%s" fill="%s"`,
				f(left+float64(j)*cw), f(top+float64(i)*ch), f(cw), f(ch), col)
			if tooltips {
				b.printf(`><title>%s</title></rect>`, esc(fmt.Sprintf("%s, %s: %s", rowLab(i), colLab(j), formatValue(v))))
			} else {
				b.printf(`/>`)
			}
		}
	}
	b.printf(`</g>`)
	if showValues {
		fs := math.Min(12, ch*0.6)
		b.printf(`<g font-size="%s" text-anchor="middle">`, f(fs))
		for i, r := range values {
			for j, v := range r {
				s := formatValue(v)
				if textWidth(s, fs) > cw-2 {
					s = fmt.Sprintf("%.2g", v)
				}
				fill := textOn(Viridis(t(v)))
				b.printf(`<text x="%s" y="%s" fill="%s">%s</text>`,
					f(left+(float64(j)+0.5)*cw), f(top+(float64(i)+0.5)*ch+fs*0.35), fill, esc(s))
			}
		}
		b.printf(`</g>`)
	}
	if rows == 0 || cols == 0 {
		b.text(left+60, top+60, 14, "middle", colMuted, "", "no data", `class="nodata"`)
	}

	// Axis labels.
	b.printf(`<g font-size="11" fill="%s">`, colMuted)
	for i := 0; i < rows; i += rowEvery {
		b.printf(`<text x="%s" y="%s" text-anchor="end">%s</text>`, f(left-5), f(top+(float64(i)+0.5)*ch+4), esc(truncate(rowLab(i), 16)))
	}
	for j := 0; j < cols; j += colEvery {
		x, y := left+(float64(j)+0.5)*cw, top+gh+14
		if rotate {
			b.printf(`<text x="%s" y="%s" text-anchor="end" transform="rotate(-45 %s %s)">%s</text>`, f(x+3), f(y-2), f(x+3), f(y-2), esc(truncate(colLab(j), 16)))
		} else {
			b.printf(`<text x="%s" y="%s" text-anchor="middle">%s</text>`, f(x), f(y), esc(truncate(colLab(j), 16)))
		}
	}
	b.printf(`</g>`)
	if opt.XLabel != "" {
		b.text(left+gw/2, top+gh+labelH+22, 13, "middle", colText, "", opt.XLabel, "")
	}
	if opt.YLabel != "" {
		cx, cy := 14.0, top+gh/2
		b.text(cx, cy, 13, "middle", colText, "", opt.YLabel, fmt.Sprintf(`transform="rotate(-90 %s %s)"`, f(cx), f(cy)))
	}

	// Colour scale: stacked bands (no gradient ids needed) with nice ticks.
	lh := math.Max(gh, 120)
	const bands = 48
	b.printf(`<g class="colorscale" shape-rendering="crispEdges">`)
	for k := 0; k < bands; k++ {
		y := top + lh - float64(k+1)*lh/bands
		b.printf(`<rect x="%s" y="%s" width="14" height="%s" fill="%s"/>`, f(legendX), f(y), f(lh/bands+0.5), Viridis((float64(k)+0.5)/bands))
	}
	b.printf(`</g><rect x="%s" y="%s" width="14" height="%s" fill="none" stroke="%s"/>`, f(legendX), f(top), f(lh), colAxis)
	ticks := NiceTicks(lo, hi, 5)
	step := 0.0
	if len(ticks) > 1 {
		step = ticks[1] - ticks[0]
	}
	b.printf(`<g font-size="11" fill="%s">`, colMuted)
	for _, tk := range ticks {
		if tk < lo-1e-12*math.Abs(hi-lo) || tk > hi+1e-12*math.Abs(hi-lo) {
			continue
		}
		y := top + lh - t(tk)*lh
		b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, f(legendX+14), f(y), f(legendX+18), f(y), colAxis)
		b.printf(`<text x="%s" y="%s">%s</text>`, f(legendX+21), f(y+4), esc(formatTick(tk, step)))
	}
	b.printf(`</g>`)
	if opt.ScaleLabel != "" {
		cx, cy := legendX+62, top+lh/2
		b.text(cx, cy, 12, "middle", colText, "", opt.ScaleLabel, fmt.Sprintf(`class="scale-label" transform="rotate(-90 %s %s)"`, f(cx), f(cy)))
	}

	label := opt.Title
	if label == "" {
		label = "heatmap"
	}
	return b.finish(label)
}

// thinStep returns the smallest k in 1, 2, 5, 10, 20, 50, ... such that k
// cells of size cell leave at least need pixels per label.
func thinStep(cell, need float64) int {
	if cell >= need || cell <= 0 {
		return 1
	}
	k := niceStep(need / cell)
	if k < 1 {
		k = 1
	}
	return int(k)
}
