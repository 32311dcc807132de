package widgets

import (
	"fmt"
	"hash/fnv"
	"html"
	"math"
	"strconv"
	"strings"
)

// fontFamily is a system sans-serif stack; single-quoted names so it can sit
// inside a double-quoted attribute.
const fontFamily = `system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif`

// Text and grid colours: dark grey text reads better than pure black.
const (
	colText  = "#222222"
	colMuted = "#666666"
	colGrid  = "#e5e5e5"
	colAxis  = "#999999"
)

// palette is Okabe-Ito reordered so the first colours have the most contrast
// on white; yellow comes last because thin yellow lines are hard to see.
var palette = []string{
	"#0072B2", // blue
	"#D55E00", // vermillion
	"#009E73", // bluish green
	"#CC79A7", // reddish purple
	"#E69F00", // orange
	"#56B4E9", // sky blue
	"#000000", // black
	"#F0E442", // yellow
}

// esc escapes text for both HTML and XML contexts (attributes and content).
func esc(s string) string { return html.EscapeString(s) }

// f formats a coordinate compactly (two decimals, trailing zeros dropped).
func f(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// textWidth estimates rendered width of s at font size px; SVG has no layout
// engine, so margins and legends are sized from this. It errs wide: the
// fallback font on Linux (DejaVu Sans) is broader than most.
func textWidth(s string, px float64) float64 {
	n := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("il.,:;|!'1 ", r):
			n += 0.34
		case strings.ContainsRune("mwMW%", r):
			n += 0.92
		case r >= 'A' && r <= 'Z':
			n += 0.72
		default:
			n += 0.62
		}
	}
	return n * px
}

// truncate shortens s to at most n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 2 {
		return s
	}
	return string(r[:n-1]) + "…"
}

// svgBuilder accumulates an SVG document.
type svgBuilder struct {
	sb   strings.Builder
	w, h float64
}

func (b *svgBuilder) printf(format string, args ...any) { fmt.Fprintf(&b.sb, format, args...) }

// text writes a <text> element; anchor is start, middle or end.
func (b *svgBuilder) text(x, y float64, size float64, anchor, fill, weight, s string, extra string) {
	b.printf(`<text x="%s" y="%s" font-size="%s" text-anchor="%s" fill="%s"`, f(x), f(y), f(size), anchor, fill)
	if weight != "" {
		b.printf(` font-weight="%s"`, weight)
	}
	if extra != "" {
		b.printf(" %s", extra)
	}
	b.printf(">%s</text>", esc(s))
}

// finish wraps the body in the <svg> root with a white background (readable
// under dark notebook themes) and replaces the ID placeholder with a hash of
// the content: ids must be unique across all SVGs inlined in one page, and a
// content hash is both deterministic and distinct for distinct charts.
func (b *svgBuilder) finish(label string) string {
	body := b.sb.String()
	var out strings.Builder
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" width="%s" height="%s" style="max-width:100%%;height:auto" font-family="%s" role="img" aria-label="%s">`,
		f(b.w), f(b.h), f(b.w), f(b.h), fontFamily, esc(label))
	// <title> first: the SVG's accessible name, and what a browser shows
	// on hover over a saved file.
	fmt.Fprintf(&out, `<title>%s</title>`, esc(label))
	fmt.Fprintf(&out, `<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`, f(b.w), f(b.h))
	out.WriteString(body)
	out.WriteString("</svg>")
	s := out.String()
	if strings.Contains(s, idPlaceholder) {
		h := fnv.New64a()
		h.Write([]byte(s))
		s = strings.ReplaceAll(s, idPlaceholder, fmt.Sprintf("gp%x", h.Sum64()))
	}
	return s
}

const idPlaceholder = "__GOPEFT_ID__"

// textOn returns black or white, whichever reads better on the hex colour bg.
func textOn(bg string) string {
	r, g, bl := hexRGB(bg)
	lum := 0.2126*srgbLin(r) + 0.7152*srgbLin(g) + 0.0722*srgbLin(bl)
	if lum > 0.3 {
		return "#000000"
	}
	return "#ffffff"
}

func srgbLin(c float64) float64 {
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

func hexRGB(s string) (r, g, b float64) {
	var ri, gi, bi int
	if len(s) == 7 {
		fmt.Sscanf(s[1:], "%02x%02x%02x", &ri, &gi, &bi)
	}
	return float64(ri) / 255, float64(gi) / 255, float64(bi) / 255
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
