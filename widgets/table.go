package widgets

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TableOptions controls a Table. HighlightRows are 0-based indices into rows
// (e.g. the best result), drawn bold on a tinted background.
type TableOptions struct {
	Caption       string
	HighlightRows []int
}

// Table renders an HTML table with inline styles only. Columns whose
// non-empty cells all read as numbers (allowing %, thousands commas, a
// leading +/-, and "± x" suffixes) are right-aligned with tabular digits.
// The markup is also well-formed XML. Rows shorter than the header are padded.
func Table(header []string, rows [][]string, opt TableOptions) string {
	ncol := len(header)
	for _, r := range rows {
		ncol = max(ncol, len(r))
	}
	numeric := make([]bool, ncol)
	for c := range numeric {
		seen := false
		numeric[c] = true
		for _, r := range rows {
			if c >= len(r) || strings.TrimSpace(r[c]) == "" {
				continue
			}
			seen = true
			if !looksNumeric(r[c]) {
				numeric[c] = false
				break
			}
		}
		numeric[c] = numeric[c] && seen
	}
	hl := map[int]bool{}
	for _, i := range opt.HighlightRows {
		hl[i] = true
	}
	align := func(c int) string {
		if numeric[c] {
			return "text-align:right;font-variant-numeric:tabular-nums"
		}
		return "text-align:left"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<table style="border-collapse:collapse;font-family:%s;font-size:13px;color:%s;margin:4px 0">`, fontFamily, colText)
	if opt.Caption != "" {
		fmt.Fprintf(&sb, `<caption style="caption-side:top;text-align:left;font-weight:600;padding:4px 0;color:%s">%s</caption>`, colText, esc(opt.Caption))
	}
	if len(header) > 0 {
		sb.WriteString(`<thead><tr>`)
		for c := 0; c < ncol; c++ {
			h := ""
			if c < len(header) {
				h = header[c]
			}
			fmt.Fprintf(&sb, `<th style="%s;padding:4px 10px;border-bottom:2px solid #444444;font-weight:600;white-space:nowrap">%s</th>`, align(c), esc(h))
		}
		sb.WriteString(`</tr></thead>`)
	}
	sb.WriteString(`<tbody>`)
	for i, r := range rows {
		style := "background:#ffffff"
		if i%2 == 1 {
			style = "background:#f7f7f7"
		}
		if hl[i] {
			style = "background:#fff4cc;font-weight:600"
		}
		fmt.Fprintf(&sb, `<tr style="%s">`, style)
		for c := 0; c < ncol; c++ {
			v := ""
			if c < len(r) {
				v = r[c]
			}
			fmt.Fprintf(&sb, `<td style="%s;padding:3px 10px;border-bottom:1px solid #e0e0e0">%s</td>`, align(c), esc(v))
		}
		sb.WriteString(`</tr>`)
	}
	sb.WriteString(`</tbody></table>`)
	return sb.String()
}

func looksNumeric(s string) bool {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "±"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = strings.TrimSuffix(s, "%")
	s = strings.ReplaceAll(s, ",", "")
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// Bar is one bar of a BarChart.
type Bar struct {
	Label string
	Value float64
}

// BarChartOptions controls a BarChart. Baseline draws a dashed vertical line
// (e.g. the majority-class accuracy) labelled BaselineLabel. Min/Max pin the
// value axis, which otherwise spans nice ticks around 0, the data and the
// baseline. Format is a fmt verb for the value printed at each bar's end
// (default: four significant digits).
type BarChartOptions struct {
	Title, XLabel string
	Width         int
	Baseline      *float64
	BaselineLabel string
	Min, Max      *float64
	Format        string
}

// BarChart renders horizontal bars (<rect class="bar">) in the given order.
// Negative values extend left of zero; NaN/Inf bars are omitted but keep
// their label with "n/a".
func BarChart(bars []Bar, opt BarChartOptions) string {
	W := float64(opt.Width)
	if W <= 0 {
		W = 560
	}
	lo, hi := 0.0, 0.0
	for _, b := range bars {
		if finite(b.Value) {
			lo, hi = math.Min(lo, b.Value), math.Max(hi, b.Value)
		}
	}
	if opt.Baseline != nil && finite(*opt.Baseline) {
		lo, hi = math.Min(lo, *opt.Baseline), math.Max(hi, *opt.Baseline)
	}
	ticks := NiceTicks(lo, hi, 5)
	if lo == 0 && hi == 0 {
		ticks = []float64{0, 0.5, 1}
	}
	xa, xb := ticks[0], ticks[len(ticks)-1]
	if opt.Min != nil && finite(*opt.Min) {
		xa = *opt.Min
	}
	if opt.Max != nil && finite(*opt.Max) {
		xb = *opt.Max
	}
	if xb <= xa {
		xb = xa + 1
	}
	step := 0.0
	if len(ticks) > 1 {
		step = ticks[1] - ticks[0]
	}
	labelW := 0.0
	for _, b := range bars {
		labelW = math.Max(labelW, textWidth(truncate(b.Label, 28), 12))
	}
	fmtV := func(v float64) string {
		if !finite(v) {
			return "n/a"
		}
		if opt.Format != "" {
			return fmt.Sprintf(opt.Format, v)
		}
		return formatValue(v)
	}
	valW := 0.0
	for _, b := range bars {
		valW = math.Max(valW, textWidth(fmtV(b.Value), 11))
	}
	left := labelW + 16
	right := valW + 16
	top := 14.0
	if opt.Title != "" {
		top = 40
	}
	if opt.Baseline != nil {
		top += 16
	}
	barH, gap := 20.0, 6.0
	ph := math.Max(float64(len(bars))*(barH+gap)+gap, 40)
	bottom := 30.0
	if opt.XLabel != "" {
		bottom += 20
	}
	H := top + ph + bottom
	pw := W - left - right
	sx := func(v float64) float64 { return left + (math.Max(xa, math.Min(xb, v))-xa)/(xb-xa)*pw }
	b := &svgBuilder{w: W, h: H}
	if opt.Title != "" {
		b.text(W/2, 24, 16, "middle", colText, "600", opt.Title, "")
	}
	b.printf(`<g stroke="%s">`, colGrid)
	for _, t := range ticks {
		if t < xa || t > xb {
			continue
		}
		b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, f(sx(t)), f(top), f(sx(t)), f(top+ph))
	}
	b.printf(`</g><g font-size="11" fill="%s" text-anchor="middle">`, colMuted)
	for _, t := range ticks {
		if t < xa || t > xb {
			continue
		}
		b.printf(`<text x="%s" y="%s">%s</text>`, f(sx(t)), f(top+ph+16), esc(formatTick(t, step)))
	}
	b.printf(`</g>`)
	zero := sx(0)
	for i, br := range bars {
		y := top + gap + float64(i)*(barH+gap)
		b.text(left-8, y+barH/2+4, 12, "end", colText, "", truncate(br.Label, 28), "")
		if !finite(br.Value) {
			b.text(zero+4, y+barH/2+4, 11, "start", colMuted, "", "n/a", "")
			continue
		}
		x0, x1 := zero, sx(br.Value)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		b.printf(`<rect class="bar" x="%s" y="%s" width="%s" height="%s" rx="2" fill="%s"><title>%s</title></rect>`,
			f(x0), f(y), f(math.Max(x1-x0, 0.5)), f(barH), palette[0], esc(br.Label+": "+fmtV(br.Value)))
		if br.Value >= 0 {
			b.text(x1+4, y+barH/2+4, 11, "start", colText, "", fmtV(br.Value), "")
		} else {
			b.text(x1+4, y+barH/2+4, 11, "start", "#ffffff", "", fmtV(br.Value), "")
		}
	}
	b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, f(zero), f(top), f(zero), f(top+ph), colAxis)
	if opt.Baseline != nil && finite(*opt.Baseline) {
		x := sx(*opt.Baseline)
		b.printf(`<line class="baseline" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="5 3"/>`, f(x), f(top-4), f(x), f(top+ph), palette[1])
		lab := opt.BaselineLabel
		if lab == "" {
			lab = "baseline"
		}
		lab += " " + fmtV(*opt.Baseline)
		anchor := "middle"
		if x+textWidth(lab, 11)/2 > W-4 {
			anchor = "end"
		} else if x-textWidth(lab, 11)/2 < 4 {
			anchor = "start"
		}
		b.text(x, top-8, 11, anchor, palette[1], "", lab, "")
	}
	if opt.XLabel != "" {
		b.text(left+pw/2, top+ph+38, 13, "middle", colText, "", opt.XLabel, "")
	}
	if len(bars) == 0 {
		b.text(left+pw/2, top+ph/2+5, 14, "middle", colMuted, "", "no data", `class="nodata"`)
	}
	label := opt.Title
	if label == "" {
		label = "bar chart"
	}
	return b.finish(label)
}
