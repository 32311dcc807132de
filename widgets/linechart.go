package widgets

import (
	"fmt"
	"math"
	"strings"
)

// Series is one line of a LineChart. When X is nil the points are plotted at
// x = 0, 1, 2, ...; otherwise the shorter of X and Y sets the length.
// NaN or ±Inf values (and values <= 0 on a log axis) leave a gap.
type Series struct {
	Name string
	X, Y []float64
}

// LineChartOptions controls a LineChart. Zero values pick defaults
// (640x360). YMin/YMax pin the y range; otherwise it is fitted to nice ticks.
type LineChartOptions struct {
	Title, XLabel, YLabel string
	Width, Height         int
	LogY                  bool
	LogX                  bool // e.g. batch sizes 1, 2, 4, ... 256
	YMin, YMax            *float64
}

// LineChart renders series as an SVG line chart. Each series is one
// <path class="series">; points isolated between gaps (and short series)
// get circle markers so a single point stays visible. Series differ by
// colour and dash pattern, so the chart reads in greyscale too. With no finite data it
// renders a framed "no data" chart instead of failing.
func LineChart(series []Series, opt LineChartOptions) string {
	W, H := float64(opt.Width), float64(opt.Height)
	if W <= 0 {
		W = 640
	}
	if H <= 0 {
		H = 360
	}
	b := &svgBuilder{w: W, h: H}

	type pt struct{ x, y float64 }
	valid := func(x, y float64) bool {
		return finite(x) && finite(y) && (!opt.LogY || y > 0) && (!opt.LogX || x > 0)
	}
	pts := make([][]pt, len(series)) // NaN marks a gap
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i, s := range series {
		n := len(s.Y)
		if s.X != nil && len(s.X) < n {
			n = len(s.X)
		}
		for j := 0; j < n; j++ {
			x := float64(j)
			if s.X != nil {
				x = s.X[j]
			}
			y := s.Y[j]
			if !valid(x, y) {
				pts[i] = append(pts[i], pt{math.NaN(), math.NaN()})
				continue
			}
			pts[i] = append(pts[i], pt{x, y})
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	hasData := xlo <= xhi
	if opt.YMin != nil && finite(*opt.YMin) && (!opt.LogY || *opt.YMin > 0) {
		ylo = *opt.YMin
		if !hasData {
			yhi = ylo
		}
	}
	if opt.YMax != nil && finite(*opt.YMax) && (!opt.LogY || *opt.YMax > 0) {
		yhi = *opt.YMax
		if !hasData && opt.YMin == nil {
			ylo = yhi
		}
	}
	if !hasData {
		xlo, xhi = 0, 1
		if opt.LogX {
			xlo, xhi = 1, 10
		}
		if !(ylo <= yhi) {
			ylo, yhi = 0, 1
			if opt.LogY {
				ylo, yhi = 1, 10
			}
		}
	}

	// Ticks; the axis spans the outer ticks unless the user pinned a bound.
	var xt []float64
	if opt.LogX {
		xt = LogTicks(xlo, xhi)
	} else {
		xt = NiceTicks(xlo, xhi, 6)
	}
	xa, xb := xt[0], xt[len(xt)-1]
	var yt []float64
	var ya, yb float64
	ystep := 0.0
	if opt.LogY {
		yt = LogTicks(ylo, yhi)
		ya, yb = yt[0], yt[len(yt)-1]
	} else {
		yt = NiceTicks(ylo, yhi, 6)
		ya, yb = yt[0], yt[len(yt)-1]
		if len(yt) > 1 {
			ystep = yt[1] - yt[0]
		}
	}
	pinned := func(lo, hi *float64) {
		if opt.YMin != nil && finite(*opt.YMin) && (!opt.LogY || *opt.YMin > 0) {
			*lo = *opt.YMin
		}
		if opt.YMax != nil && finite(*opt.YMax) && (!opt.LogY || *opt.YMax > 0) {
			*hi = *opt.YMax
		}
	}
	pinned(&ya, &yb)
	if yb <= ya {
		yb = ya + 1
	}

	// Margins sized from the labels that will sit in them.
	yLabels := make([]string, len(yt))
	maxYL := 0.0
	for i, t := range yt {
		if opt.LogY {
			yLabels[i] = formatTick(t, t)
		} else {
			yLabels[i] = formatTick(t, ystep)
		}
		maxYL = math.Max(maxYL, textWidth(yLabels[i], 12))
	}
	left := maxYL + 16
	if opt.YLabel != "" {
		left += 20
	}
	top := 16.0
	if opt.Title != "" {
		top = 40
	}
	bottom := 34.0
	if opt.XLabel != "" {
		bottom += 20
	}
	named := 0
	legendW := 0.0
	for _, s := range series {
		if s.Name != "" {
			named++
			legendW = math.Max(legendW, textWidth(truncate(s.Name, 24), 12))
		}
	}
	right := 16.0
	showLegend := named > 0 && (len(series) > 1 || series[0].Name != "")
	if showLegend {
		right = legendW + 48
	}
	pw, ph := W-left-right, H-top-bottom
	if pw < 40 {
		pw = 40
	}
	if ph < 40 {
		ph = 40
	}
	sx := func(x float64) float64 {
		if opt.LogX {
			return left + (math.Log10(x)-math.Log10(xa))/(math.Log10(xb)-math.Log10(xa))*pw
		}
		return left + (x-xa)/(xb-xa)*pw
	}
	sy := func(y float64) float64 {
		if opt.LogY {
			return top + ph - (math.Log10(y)-math.Log10(ya))/(math.Log10(yb)-math.Log10(ya))*ph
		}
		return top + ph - (y-ya)/(yb-ya)*ph
	}

	if opt.Title != "" {
		b.text(W/2, 24, 16, "middle", colText, "600", opt.Title, "")
	}
	// Grid and tick labels.
	b.printf(`<g stroke="%s" stroke-width="1">`, colGrid)
	for _, t := range yt {
		if t < ya-1e-12 || t > yb+1e-12 {
			continue
		}
		b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, f(left), f(sy(t)), f(left+pw), f(sy(t)))
	}
	for _, t := range xt {
		b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, f(sx(t)), f(top), f(sx(t)), f(top+ph))
	}
	b.printf(`</g>`)
	b.printf(`<g font-size="12" fill="%s">`, colMuted)
	for i, t := range yt {
		if t < ya-1e-12 || t > yb+1e-12 {
			continue
		}
		b.printf(`<text x="%s" y="%s" text-anchor="end">%s</text>`, f(left-6), f(sy(t)+4), esc(yLabels[i]))
	}
	xstep := 0.0
	if len(xt) > 1 {
		xstep = xt[1] - xt[0]
	}
	for _, t := range xt {
		st := xstep
		if opt.LogX {
			st = t
		}
		b.printf(`<text x="%s" y="%s" text-anchor="middle">%s</text>`, f(sx(t)), f(top+ph+18), esc(formatTick(t, st)))
	}
	b.printf(`</g>`)
	b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="%s"/>`, f(left), f(top), f(pw), f(ph), colAxis)
	if opt.XLabel != "" {
		b.text(left+pw/2, top+ph+40, 13, "middle", colText, "", opt.XLabel, "")
	}
	if opt.YLabel != "" {
		cx, cy := 16.0, top+ph/2
		b.text(cx, cy, 13, "middle", colText, "", opt.YLabel, fmt.Sprintf(`transform="rotate(-90 %s %s)"`, f(cx), f(cy)))
	}
	if !hasData {
		b.text(left+pw/2, top+ph/2+5, 14, "middle", colMuted, "", "no data", `class="nodata"`)
	}

	// Series, clipped to the plot area so pinned y ranges cut lines cleanly.
	b.printf(`<defs><clipPath id="%s"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath></defs>`,
		idPlaceholder, f(left-3), f(top-3), f(pw+6), f(ph+6))
	b.printf(`<g clip-path="url(#%s)" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">`, idPlaceholder)
	for i, s := range series {
		col, dash, _ := seriesStyle(i) // dash as well as colour: reads in greyscale
		var d strings.Builder
		pen := false
		var lonely []pt
		p := pts[i]
		for j, q := range p {
			if math.IsNaN(q.x) {
				pen = false
				continue
			}
			prevOK := j > 0 && !math.IsNaN(p[j-1].x)
			nextOK := j+1 < len(p) && !math.IsNaN(p[j+1].x)
			if !prevOK && !nextOK || len(p) <= 12 {
				lonely = append(lonely, q)
			}
			if pen {
				d.WriteString("L")
			} else {
				d.WriteString("M")
				pen = true
			}
			d.WriteString(f(sx(q.x)) + " " + f(sy(q.y)))
		}
		b.printf(`<path class="series" d="%s" stroke="%s"`, d.String(), col)
		if dash != "" {
			b.printf(` stroke-dasharray="%s"`, dash)
		}
		b.printf(`><title>%s</title></path>`, esc(s.Name))
		for _, q := range lonely {
			b.printf(`<circle cx="%s" cy="%s" r="3" fill="%s" stroke="none"><title>%s</title></circle>`,
				f(sx(q.x)), f(sy(q.y)), col, esc(fmt.Sprintf("%s: (%s, %s)", s.Name, formatValue(q.x), formatValue(q.y))))
		}
	}
	b.printf(`</g>`)

	// Legend to the right of the plot; overflow collapses into "+N more".
	if showLegend {
		lx := left + pw + 14
		rows := int((ph - 4) / 18)
		if rows < 1 {
			rows = 1
		}
		b.printf(`<g font-size="12" fill="%s">`, colText)
		for i, s := range series {
			y := top + 10 + float64(i)*18
			if i == rows-1 && len(series) > rows {
				b.printf(`<text x="%s" y="%s" fill="%s">+%d more</text>`, f(lx), f(y+4), colMuted, len(series)-i)
				break
			}
			col, dash, _ := seriesStyle(i) // dash as well as colour: reads in greyscale
			b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.5"`, f(lx), f(y), f(lx+22), f(y), col)
			if dash != "" {
				b.printf(` stroke-dasharray="%s"`, dash)
			}
			b.printf(`/>`)
			b.printf(`<text x="%s" y="%s">%s</text>`, f(lx+28), f(y+4), esc(truncate(s.Name, 24)))
		}
		b.printf(`</g>`)
	}
	label := opt.Title
	if label == "" {
		label = "line chart"
	}
	return b.finish(label)
}
