package widgets

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// This file is the shared engine of the teaching plots (plots.go): one or
// more x-y panels in one SVG, each with lines, scatter markers, shaded bands
// and reference lines. Every element a test or a reader needs to find carries
// a class: "series", "point", "band", "identity", "limit", "reference",
// "xtick", "ytick", "xlabel", "ylabel", "legend".

// axisSpec is one axis of a panel.
type axisSpec struct {
	label    string
	log      bool
	ticks    []float64 // explicit ticks (e.g. the batch sizes or n = 0..L); nil: automatic
	min, max *float64  // pin the range
	scale    float64   // tick labels show value*scale (100 for fractions shown as %); 0 means 1
}

// plotLine is a polyline through (x, y); NaN points leave gaps.
type plotLine struct {
	name         string
	x, y         []float64
	colour, dash string
	marker       int // markerNone for none
	class        string
}

// plotPoint is one scatter marker, optionally labelled beside it.
type plotPoint struct {
	x, y   float64
	label  string
	tip    string
	colour string
	marker int
	class  string
}

// plotBand is a shaded area between lo and hi over x.
type plotBand struct {
	x, lo, hi []float64
	colour    string
	class     string
}

// refLine is a horizontal (hline) or vertical (vline) reference line.
type refLine struct {
	value  float64
	label  string
	colour string
	class  string
}

type legendEntry struct {
	name, colour, dash string
	marker             int
	band               bool // a shaded swatch instead of a line
	noLine             bool // marker only (scatter)
}

type panel struct {
	title          string
	x, y           axisSpec
	lines          []plotLine
	points         []plotPoint
	bands          []plotBand
	hlines, vlines []refLine
	identity       bool    // draw y = x (with a shared range on both axes)
	pad            bool    // keep markers off the frame: widen linear ranges by 5%
	minLeft        float64 // left margin at least this, to align stacked panels
	legend         []legendEntry
}

// Marker shapes, so series differ in greyscale prints as well as in colour.
const (
	markerNone   = -1
	markerCircle = iota - 1
	markerSquare
	markerTriangle
	markerDiamond
	markerTriangleDown
	markerCross
	numMarkers
)

// lineDashes differ per series (paired with the palette index) so lines read
// in greyscale.
var lineDashes = []string{"", "7 4", "2 3", "9 3 2 3", "4 2", "1 2"}

// seriesStyle is series i's colour, dash and marker.
func seriesStyle(i int) (colour, dash string, marker int) {
	return palette[i%(len(palette)-1)], lineDashes[i%len(lineDashes)], i % numMarkers // skip yellow
}

// marker writes a marker of shape at (cx, cy) with radius r.
func (b *svgBuilder) marker(shape int, cx, cy, r float64, fill, attrs string) {
	if attrs != "" {
		attrs = " " + attrs
	}
	pts := func(ps ...float64) string {
		var s []string
		for i := 0; i+1 < len(ps); i += 2 {
			s = append(s, f(cx+ps[i]*r)+","+f(cy+ps[i+1]*r))
		}
		return strings.Join(s, " ")
	}
	outline := ` stroke="#ffffff" stroke-width="0.8"`
	switch shape {
	case markerSquare:
		b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"%s%s/>`, f(cx-0.85*r), f(cy-0.85*r), f(1.7*r), f(1.7*r), fill, outline, attrs)
	case markerTriangle:
		b.printf(`<polygon points="%s" fill="%s"%s%s/>`, pts(0, -1.15, 1.05, 0.75, -1.05, 0.75), fill, outline, attrs)
	case markerDiamond:
		b.printf(`<polygon points="%s" fill="%s"%s%s/>`, pts(0, -1.2, 1.1, 0, 0, 1.2, -1.1, 0), fill, outline, attrs)
	case markerTriangleDown:
		b.printf(`<polygon points="%s" fill="%s"%s%s/>`, pts(0, 1.15, 1.05, -0.75, -1.05, -0.75), fill, outline, attrs)
	case markerCross:
		b.printf(`<path d="M%s %sL%s %sM%s %sL%s %s" stroke="%s" stroke-width="2.2" fill="none"%s/>`,
			f(cx-r), f(cy-r), f(cx+r), f(cy+r), f(cx-r), f(cy+r), f(cx+r), f(cy-r), fill, attrs)
	default:
		b.printf(`<circle cx="%s" cy="%s" r="%s" fill="%s"%s%s/>`, f(cx), f(cy), f(r), fill, outline, attrs)
	}
}

// axisRange fits an axis to the data values vs: ticks, then the outer ticks
// as the range unless pinned.
func axisRange(a axisSpec, vs []float64) (ticks []float64, lo, hi float64, hasData bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if finite(v) && (!a.log || v > 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, t := range a.ticks {
		if finite(t) && (!a.log || t > 0) {
			lo, hi = math.Min(lo, t), math.Max(hi, t)
		}
	}
	okPin := func(p *float64) bool { return p != nil && finite(*p) && (!a.log || *p > 0) }
	if okPin(a.min) {
		lo = math.Min(lo, *a.min)
	}
	if okPin(a.max) {
		hi = math.Max(hi, *a.max)
	}
	hasData = lo <= hi
	if !hasData {
		lo, hi = 0, 1
		if a.log {
			lo, hi = 1, 10
		}
	}
	switch {
	case a.ticks != nil:
		ticks = a.ticks
		if lo == hi {
			hi = lo + 1
		}
	case a.log:
		ticks = LogTicks(lo, hi)
		lo, hi = ticks[0], ticks[len(ticks)-1]
	default:
		ticks = NiceTicks(lo, hi, 6)
		lo, hi = ticks[0], ticks[len(ticks)-1]
	}
	if okPin(a.min) {
		lo = *a.min
	}
	if okPin(a.max) {
		hi = *a.max
	}
	if hi <= lo {
		hi = lo + 1
	}
	return ticks, lo, hi, hasData
}

// tickLabels formats ticks for display (scaled, e.g. fractions as %).
func tickLabels(a axisSpec, ticks []float64) []string {
	scale := a.scale
	if scale == 0 {
		scale = 1
	}
	step := 0.0
	if len(ticks) > 1 {
		step = math.Abs(ticks[1]-ticks[0]) * scale
	}
	out := make([]string, len(ticks))
	for i, t := range ticks {
		st := step
		if a.log { // ticks are not evenly spaced: each needs its own digits
			st = math.Abs(t * scale)
		}
		out[i] = formatTick(t*scale, st)
	}
	return out
}

// drawPanel renders p into the box (bx, by, bw, bh) of b; id distinguishes
// its clip path from other panels' in the same SVG.
func (b *svgBuilder) drawPanel(p *panel, id string, bx, by, bw, bh float64) {
	xt, xa, xb, yt, ya, yb, hasData := p.ranges()
	xl, yl := tickLabels(p.x, xt), tickLabels(p.y, yt)
	left := math.Max(p.leftMargin(), p.minLeft)
	top := 10.0
	if p.title != "" {
		top = 30
	}
	bottom := 26.0
	if p.x.label != "" {
		bottom += 20
	}
	right := 14.0
	legendW := 0.0
	for _, e := range p.legend {
		legendW = math.Max(legendW, textWidth(truncate(e.name, 32), 12))
	}
	if len(p.legend) > 0 {
		right = legendW + 52
	}
	pw, ph := math.Max(bw-left-right, 40), math.Max(bh-top-bottom, 40)
	x0, y0 := bx+left, by+top
	sx := func(x float64) float64 {
		if p.x.log {
			return x0 + (math.Log10(x)-math.Log10(xa))/(math.Log10(xb)-math.Log10(xa))*pw
		}
		return x0 + (x-xa)/(xb-xa)*pw
	}
	sy := func(y float64) float64 {
		if p.y.log {
			return y0 + ph - (math.Log10(y)-math.Log10(ya))/(math.Log10(yb)-math.Log10(ya))*ph
		}
		return y0 + ph - (y-ya)/(yb-ya)*ph
	}
	in := func(v, lo, hi float64) bool { return v >= lo-1e-9*math.Abs(hi-lo) && v <= hi+1e-9*math.Abs(hi-lo) }
	ok := func(x, y float64) bool {
		return finite(x) && finite(y) && (!p.x.log || x > 0) && (!p.y.log || y > 0)
	}

	if p.title != "" {
		b.text(x0+pw/2, by+18, 13, "middle", colText, "600", p.title, `class="panel-title"`)
	}
	b.printf(`<g stroke="%s" stroke-width="1">`, colGrid)
	for _, t := range yt {
		if in(t, ya, yb) {
			b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, f(x0), f(sy(t)), f(x0+pw), f(sy(t)))
		}
	}
	for _, t := range xt {
		if in(t, xa, xb) {
			b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, f(sx(t)), f(y0), f(sx(t)), f(y0+ph))
		}
	}
	b.printf(`</g><g font-size="12" fill="%s">`, colMuted)
	for i, t := range yt {
		if in(t, ya, yb) {
			b.printf(`<text class="ytick" x="%s" y="%s" text-anchor="end">%s</text>`, f(x0-6), f(sy(t)+4), esc(yl[i]))
		}
	}
	for i, t := range xt {
		if in(t, xa, xb) {
			b.printf(`<text class="xtick" x="%s" y="%s" text-anchor="middle">%s</text>`, f(sx(t)), f(y0+ph+17), esc(xl[i]))
		}
	}
	b.printf(`</g>`)
	b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="%s"/>`, f(x0), f(y0), f(pw), f(ph), colAxis)
	if p.x.label != "" {
		b.text(x0+pw/2, y0+ph+38, 13, "middle", colText, "", p.x.label, `class="xlabel"`)
	}
	if p.y.label != "" {
		cx, cy := bx+14, y0+ph/2
		b.text(cx, cy, 13, "middle", colText, "", p.y.label, fmt.Sprintf(`class="ylabel" transform="rotate(-90 %s %s)"`, f(cx), f(cy)))
	}
	if !hasData {
		b.text(x0+pw/2, y0+ph/2+5, 14, "middle", colMuted, "", "no data", `class="nodata"`)
	}

	clip := idPlaceholder + id
	b.printf(`<defs><clipPath id="%s"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath></defs>`, clip, f(x0-5), f(y0-5), f(pw+10), f(ph+10))
	b.printf(`<g clip-path="url(#%s)">`, clip)
	for _, bd := range p.bands {
		var upper, lower []string
		n := min(len(bd.x), len(bd.lo), len(bd.hi))
		for i := 0; i < n; i++ {
			if ok(bd.x[i], bd.lo[i]) && ok(bd.x[i], bd.hi[i]) {
				upper = append(upper, f(sx(bd.x[i]))+","+f(sy(bd.hi[i])))
				lower = append([]string{f(sx(bd.x[i])) + "," + f(sy(bd.lo[i]))}, lower...)
			}
		}
		if len(upper) > 1 {
			b.printf(`<polygon class="%s" points="%s" fill="%s" fill-opacity="0.2" stroke="none"/>`,
				strings.TrimSpace("band "+bd.class), strings.Join(append(upper, lower...), " "), bd.colour)
		}
	}
	if p.identity {
		lo, hi := math.Max(xa, ya), math.Min(xb, yb)
		b.printf(`<line class="identity" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.2" stroke-dasharray="5 4"><title>y = x (perfect prediction)</title></line>`,
			f(sx(lo)), f(sy(lo)), f(sx(hi)), f(sy(hi)), colMuted)
	}
	for _, r := range p.hlines {
		if !finite(r.value) {
			continue
		}
		b.printf(`<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.6" stroke-dasharray="8 3 2 3"><title>%s</title></line>`,
			r.class, f(x0), f(sy(r.value)), f(x0+pw), f(sy(r.value)), r.colour, esc(r.label))
	}
	for _, r := range p.vlines {
		if finite(r.value) {
			b.printf(`<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.2" stroke-dasharray="3 3"><title>%s</title></line>`,
				r.class, f(sx(r.value)), f(y0), f(sx(r.value)), f(y0+ph), r.colour, esc(r.label))
		}
	}
	for _, l := range p.lines {
		var d strings.Builder
		pen := false
		n := min(len(l.x), len(l.y))
		for i := 0; i < n; i++ {
			if !ok(l.x[i], l.y[i]) {
				pen = false
				continue
			}
			if pen {
				d.WriteString("L")
			} else {
				d.WriteString("M")
				pen = true
			}
			d.WriteString(f(sx(l.x[i])) + " " + f(sy(l.y[i])))
		}
		b.printf(`<path class="%s" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"`, strings.TrimSpace("series "+l.class), d.String(), l.colour)
		if l.dash != "" {
			b.printf(` stroke-dasharray="%s"`, l.dash)
		}
		b.printf(`><title>%s</title></path>`, esc(l.name))
		if l.marker != markerNone {
			for i := 0; i < n; i++ {
				if ok(l.x[i], l.y[i]) {
					b.printf(`<g class="point"><title>%s</title>`, esc(fmt.Sprintf("%s: (%s, %s)", l.name, formatValue(l.x[i]*scaleOf(p.x)), formatValue(l.y[i]*scaleOf(p.y)))))
					b.marker(l.marker, sx(l.x[i]), sy(l.y[i]), 4, l.colour, "")
					b.printf(`</g>`)
				}
			}
		}
	}
	b.printf(`</g>`)

	// Scatter points with labels beside them: each label takes the first of
	// a few positions around its marker that covers no other label or marker.
	type box struct{ x0, x1, y0, y1 float64 }
	var placed []box
	var centres [][2]float64
	for _, q := range p.points {
		if ok(q.x, q.y) {
			centres = append(centres, [2]float64{sx(q.x), sy(q.y)})
		}
	}
	for _, q := range p.points {
		if !ok(q.x, q.y) {
			continue
		}
		cx, cy := sx(q.x), sy(q.y)
		b.printf(`<g class="%s"><title>%s</title>`, strings.TrimSpace("point "+q.class), esc(q.tip))
		b.marker(q.marker, cx, cy, 5.5, q.colour, "")
		b.printf(`</g>`)
		if q.label == "" {
			continue
		}
		w := textWidth(q.label, 11)
		type cand struct {
			x, y   float64
			anchor string
		}
		var cands []cand
		for _, dy := range []float64{4, -7, 15, -18, 26} {
			cands = append(cands, cand{cx + 9, cy + dy, "start"}, cand{cx - 9, cy + dy, "end"})
		}
		clear := func(c cand) (box, bool) {
			bx := box{c.x, c.x + w, c.y - 10, c.y + 2}
			if c.anchor == "end" {
				bx.x0, bx.x1 = c.x-w, c.x
			}
			if bx.x0 < x0 || bx.x1 > x0+pw || bx.y0 < y0 || bx.y1 > y0+ph {
				return bx, false
			}
			for _, o := range placed {
				if bx.x0 < o.x1 && o.x0 < bx.x1 && bx.y0 < o.y1 && o.y0 < bx.y1 {
					return bx, false
				}
			}
			for _, m := range centres {
				if m[0] > bx.x0-5 && m[0] < bx.x1+5 && m[1] > bx.y0-5 && m[1] < bx.y1+5 {
					return bx, false
				}
			}
			return bx, true
		}
		pick, pbox := cands[0], box{}
		found := false
		for _, c := range cands {
			if bx, good := clear(c); good {
				pick, pbox, found = c, bx, true
				break
			}
		}
		if !found {
			if cx+9+w > x0+pw {
				pick = cands[1]
			}
			pbox, _ = clear(pick)
		}
		placed = append(placed, pbox)
		b.text(pick.x, pick.y, 11, pick.anchor, colText, "", q.label, `class="point-label"`)
	}
	// Reference line labels, drawn last so they sit above the data.
	for _, r := range p.hlines {
		if finite(r.value) && r.label != "" {
			b.text(x0+pw-4, sy(r.value)-5, 11, "end", r.colour, "600", r.label, "")
		}
	}
	for _, r := range p.vlines {
		if finite(r.value) && r.label != "" {
			b.text(sx(r.value)+4, y0+12, 10, "start", r.colour, "", r.label, "")
		}
	}

	if len(p.legend) > 0 {
		lx := x0 + pw + 14
		b.printf(`<g class="legend" font-size="12" fill="%s">`, colText)
		for i, e := range p.legend {
			y := y0 + 10 + float64(i)*20
			switch {
			case e.band:
				b.printf(`<rect x="%s" y="%s" width="26" height="10" fill="%s" fill-opacity="0.2"/>`, f(lx), f(y-5), e.colour)
			default:
				if !e.noLine {
					b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"`, f(lx), f(y), f(lx+26), f(y), e.colour)
					if e.dash != "" {
						b.printf(` stroke-dasharray="%s"`, e.dash)
					}
					b.printf(`/>`)
				}
				if e.marker != markerNone {
					b.marker(e.marker, lx+13, y, 4, e.colour, "")
				}
			}
			b.printf(`<text x="%s" y="%s">%s</text>`, f(lx+32), f(y+4), esc(truncate(e.name, 32)))
		}
		b.printf(`</g>`)
	}
}

// padded adds values 5% beyond the finite range of vs (linear axes only).
func padded(a axisSpec, vs []float64) []float64 {
	if a.log {
		return vs
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if !(lo < hi) {
		return vs
	}
	d := 0.05 * (hi - lo)
	lo, hi = lo-d, hi+d
	if a.scale == 100 { // fractions shown as %: padding must not invent 101%
		lo, hi = math.Max(lo, math.Min(0, lo+d)), math.Min(hi, math.Max(1, hi-d))
	}
	return append(slices.Clone(vs), lo, hi)
}

// ranges fits both axes to the panel's data.
func (p *panel) ranges() (xt []float64, xa, xb float64, yt []float64, ya, yb float64, hasData bool) {
	var xs, ys []float64
	for _, l := range p.lines {
		xs, ys = append(xs, l.x...), append(ys, l.y...)
	}
	for _, q := range p.points {
		xs, ys = append(xs, q.x), append(ys, q.y)
	}
	for _, bd := range p.bands {
		xs = append(xs, bd.x...)
		ys = append(append(ys, bd.lo...), bd.hi...)
	}
	for _, r := range p.hlines {
		ys = append(ys, r.value)
	}
	for _, r := range p.vlines {
		xs = append(xs, r.value)
	}
	if p.pad {
		xs, ys = padded(p.x, xs), padded(p.y, ys)
	}
	if p.identity { // one range for both axes, so y = x is the diagonal
		both := append(append([]float64{}, xs...), ys...)
		xs, ys = both, both
	}
	xt, xa, xb, hasX := axisRange(p.x, xs)
	yt, ya, yb, hasY := axisRange(p.y, ys)
	return xt, xa, xb, yt, ya, yb, hasX && hasY
}

// leftMargin is the room the y tick labels and the y label need.
func (p *panel) leftMargin() float64 {
	_, _, _, yt, _, _, _ := p.ranges()
	w := 0.0
	for _, s := range tickLabels(p.y, yt) {
		w = math.Max(w, textWidth(s, 12))
	}
	w += 14
	if p.y.label != "" {
		w += 22
	}
	return w
}

func scaleOf(a axisSpec) float64 {
	if a.scale == 0 {
		return 1
	}
	return a.scale
}
