package widgets

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
)

// LayerSite places one adapter (or adapter part) in the encoder. Site names
// follow the encoder's hook points: "embeddings"/"prompt" (below layer 0),
// "prefix", "query", "key", "value", "attn_out" (inside attention),
// "attention" (after the attention sub-block, where bottleneck adapters sit),
// "ffn_in", "intermediate", "ffn_out" (inside the FFN), "ffn" (after the FFN)
// and "fusion". Unknown sites are drawn at the end of the layer's row.
// Method picks the colour; Label, when set, is written in the marker.
type LayerSite struct {
	Layer   int
	Site    string
	Method  string
	Dropped bool // removed by AdapterDrop
	Label   string
}

// LayerDiagramOptions controls a LayerDiagram. NumLayers 0 means one more
// than the highest layer in sites (sites outside 0..NumLayers-1 are not
// drawn); Width 0 means 560.
type LayerDiagramOptions struct {
	Title     string
	NumLayers int
	Width     int
}

// siteSlot describes where a site is drawn within a layer row: which block
// and the horizontal fraction of that block, plus a one-letter code.
type siteSlot struct {
	block int // 0 attention, 1 after attention, 2 FFN, 3 after FFN, 4 other
	pos   float64
	code  string
	desc  string
}

var siteSlots = map[string]siteSlot{
	"prefix":       {0, 0.42, "P", "prefix keys/values"},
	"query":        {0, 0.55, "q", "query projection"},
	"key":          {0, 0.68, "k", "key projection"},
	"value":        {0, 0.81, "v", "value projection"},
	"attn_out":     {0, 0.94, "o", "attention output projection"},
	"attention":    {1, 0.5, "A", "after attention"},
	"ffn_in":       {2, 0.45, "i", "FFN input projection"},
	"intermediate": {2, 0.65, "h", "FFN activation"},
	"ffn_out":      {2, 0.85, "f", "FFN output projection"},
	"ffn":          {3, 0.5, "F", "after FFN"},
	"parallel":     {3, 0.5, "F", "after FFN"},
	"fusion":       {3, 0.5, "F", "after FFN"},
	"output":       {3, 0.5, "F", "after FFN"},
}

// methodColours fixes a colour per well-known method so the same method looks
// the same in every diagram; other methods get a palette colour by name hash.
var methodColours = map[string]string{
	"houlsby":    "#0072B2",
	"pfeiffer":   "#56B4E9",
	"bottleneck": "#56B4E9",
	"seq_bn":     "#56B4E9",
	"adapter":    "#56B4E9",
	"lora":       "#D55E00",
	"prefix":     "#009E73",
	"parallel":   "#CC79A7",
	"par_bn":     "#CC79A7",
	"ia3":        "#E69F00",
	"prompt":     "#F0E442",
	"fusion":     "#000000",
	"mam":        "#CC79A7",
}

func methodColour(m string) string {
	if c, ok := methodColours[strings.ToLower(m)]; ok {
		return c
	}
	h := fnv.New32a()
	h.Write([]byte(m))
	return palette[int(h.Sum32()%uint32(len(palette)-1))] // skip yellow
}

const colDropped = "#9e9e9e"

// LayerDiagram renders an SVG of the encoder with layer 0 at the bottom (as in
// the papers) and the embeddings below it. Each layer row shows its attention
// and FFN sub-blocks; each site is a marker (<g class="site">) coloured by
// method. Sites with Dropped set are hatched grey with a dashed outline, and
// the legend says "dropped by AdapterDrop". Hovering a marker shows details.
func LayerDiagram(sites []LayerSite, opt LayerDiagramOptions) string {
	W := float64(opt.Width)
	if W <= 0 {
		W = 560
	}
	W = math.Max(W, 360)
	n := opt.NumLayers
	for _, s := range sites {
		if !isEmbeddingSite(s.Site) && s.Layer+1 > n && opt.NumLayers <= 0 {
			n = s.Layer + 1
		}
	}

	rowH := 34.0
	if n > 16 {
		rowH = 26
	}
	top := 16.0
	if opt.Title != "" {
		top = 40
	}
	labelW := 58.0
	// Horizontal layout of the row: attention block, gap, FFN block, gap, other.
	avail := W - labelW - 16
	gapW := 34.0
	otherW := 0.0
	hasOther := false
	for _, s := range sites {
		if _, ok := siteSlots[s.Site]; !ok && !isEmbeddingSite(s.Site) {
			hasOther = true
		}
	}
	if hasOther {
		otherW = 60
	}
	blockW := (avail - 2*gapW - otherW) / 2
	bx := [5]float64{labelW, labelW + blockW, labelW + blockW + gapW, labelW + 2*blockW + gapW, labelW + 2*blockW + 2*gapW}
	bw := [5]float64{blockW, gapW, blockW, gapW, otherW}

	// Methods in first-appearance order, for the legend.
	var methods []string
	seen := map[string]bool{}
	anyDropped := false
	for _, s := range sites {
		if !seen[s.Method] {
			seen[s.Method] = true
			methods = append(methods, s.Method)
		}
		anyDropped = anyDropped || s.Dropped
	}
	legendRows := 1
	// Legend layout: wrap entries across lines.
	type entry struct{ label, col string }
	var entries []entry
	for _, m := range methods {
		entries = append(entries, entry{m, methodColour(m)})
	}
	if anyDropped {
		entries = append(entries, entry{"dropped by AdapterDrop", ""})
	}
	x := 12.0
	for _, e := range entries {
		w := 22 + textWidth(e.label, 12) + 16
		if x+w > W-8 && x > 12 {
			legendRows++
			x = 12
		}
		x += w
	}
	if len(entries) == 0 {
		legendRows = 0
	}

	// Site code key, only for codes used.
	usedCodes := map[string]siteSlot{}
	for _, s := range sites {
		if sl, ok := siteSlots[s.Site]; ok {
			usedCodes[sl.code] = sl
		}
	}
	var codes []string
	for c := range usedCodes {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		a, b := usedCodes[codes[i]], usedCodes[codes[j]]
		if a.block != b.block {
			return a.block < b.block
		}
		return a.pos < b.pos
	})
	var keyParts []string
	for _, c := range codes {
		keyParts = append(keyParts, c+" "+usedCodes[c].desc)
	}
	keyLines := wrapWords(keyParts, " · ", W-24, 11)

	embY := top + float64(n)*rowH + 6
	H := embY + rowH + 8 + float64(legendRows)*20 + float64(len(keyLines))*16 + 8
	b := &svgBuilder{w: W, h: H}
	if opt.Title != "" {
		b.text(W/2, 24, 16, "middle", colText, "600", opt.Title, "")
	}
	b.printf(`<defs><pattern id="%s" patternUnits="userSpaceOnUse" width="5" height="5" patternTransform="rotate(45)"><rect width="5" height="5" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="5" stroke="%s" stroke-width="2"/></pattern></defs>`, idPlaceholder, colDropped)

	rowY := func(layer int) float64 { return top + float64(n-1-layer)*rowH }
	// Residual stream: a thin line through all rows, bottom to top.
	b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"/>`,
		f(bx[0]-8), f(top+2), f(bx[0]-8), f(embY+rowH-4), colGrid)
	boxH := rowH - 8
	fs := 12.0
	if rowH < 30 {
		fs = 10.5
	}
	// A layer is dropped when it has adapters and AdapterDrop removed all of
	// them; its row is drawn faded with dashed outlines.
	kept, dropped := map[int]bool{}, map[int]bool{}
	for _, s := range sites {
		if !isEmbeddingSite(s.Site) {
			if s.Dropped {
				dropped[s.Layer] = true
			} else {
				kept[s.Layer] = true
			}
		}
	}
	for l := 0; l < n; l++ {
		y := rowY(l)
		cls, dash, label := "layer", "", fmt.Sprintf("Layer %d", l)
		if dropped[l] && !kept[l] {
			cls, dash = "layer dropped", ` stroke-dasharray="4 3" opacity="0.55"`
		}
		b.printf(`<g class="%s" data-layer="%d">`, cls, l)
		if cls != "layer" {
			b.printf(`<title>layer %d: adapters dropped by AdapterDrop</title>`, l)
		}
		b.text(labelW-12, y+rowH/2+4, fs, "end", colMuted, "", label, "")
		b.printf(`<rect class="block" x="%s" y="%s" width="%s" height="%s" rx="4" fill="#f3f6fa" stroke="#b8c4d2"%s/>`, f(bx[0]), f(y+4), f(bw[0]-2), f(boxH), dash)
		b.text(bx[0]+8, y+rowH/2+4, fs, "start", colText, "", "Attention", "")
		b.printf(`<rect class="block" x="%s" y="%s" width="%s" height="%s" rx="4" fill="#f7f4ee" stroke="#cfc3ad"%s/>`, f(bx[2]), f(y+4), f(bw[2]-2), f(boxH), dash)
		b.text(bx[2]+8, y+rowH/2+4, fs, "start", colText, "", "FFN", "")
		// Arrows between blocks (flow within a layer goes left to right).
		for _, k := range []int{1, 3} {
			ay := y + rowH/2
			b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, f(bx[k]-1), f(ay), f(bx[k]+bw[k]-3), f(ay), colAxis)
		}
		b.printf(`</g>`)
	}
	b.printf(`<rect class="block" x="%s" y="%s" width="%s" height="%s" rx="4" fill="#f2f2f2" stroke="#c8c8c8"/>`, f(bx[0]), f(embY+4), f(bx[3]-bx[0]-2), f(boxH))
	b.text(bx[0]+8, embY+rowH/2+4, fs, "start", colText, "", "Embeddings", "")

	// Group sites by drawing position so stacked adapters sit side by side.
	type key struct {
		row         int // -1 embeddings
		block       int
		pos         float64
		unknownSite string
	}
	groups := map[key][]LayerSite{}
	var order []key
	for _, s := range sites {
		var k key
		if isEmbeddingSite(s.Site) {
			k = key{row: -1, block: 0, pos: 0.55}
		} else {
			if s.Layer < 0 || s.Layer >= n {
				continue
			}
			sl, ok := siteSlots[s.Site]
			if !ok {
				sl = siteSlot{block: 4, pos: 0.5}
			}
			k = key{row: s.Layer, block: sl.block, pos: sl.pos}
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	mh := math.Min(boxH-6, 18)
	for _, k := range order {
		g := groups[k]
		y := embY
		if k.row >= 0 {
			y = rowY(k.row)
		}
		cy := y + rowH/2
		// Marker widths from their text.
		texts := make([]string, len(g))
		widths := make([]float64, len(g))
		total := 0.0
		for i, s := range g {
			t := s.Label
			if t == "" {
				if sl, ok := siteSlots[s.Site]; ok {
					t = sl.code
				} else if isEmbeddingSite(s.Site) {
					t = "E"
				} else {
					t = truncate(s.Site, 6)
				}
			}
			texts[i] = truncate(t, 10)
			widths[i] = math.Max(mh, textWidth(texts[i], 10.5)+8)
			total += widths[i] + 2
		}
		cx := bx[k.block] + bw[k.block]*k.pos
		if k.block == 1 || k.block == 3 || k.block == 4 {
			cx = bx[k.block] + bw[k.block]/2 - 1
		}
		x0 := cx - total/2
		if k.block == 0 || k.block == 2 {
			// Keep markers inside their block.
			x0 = math.Min(x0, bx[k.block]+bw[k.block]-total-4)
		}
		for i, s := range g {
			fill, stroke, dash, tc := methodColour(s.Method), "none", "", textOn(methodColour(s.Method))
			if s.Dropped {
				fill, stroke, dash, tc = fmt.Sprintf("url(#%s)", idPlaceholder), "#616161", ` stroke-dasharray="3 2"`, "#424242"
			}
			tip := fmt.Sprintf("%s at %s, layer %d", s.Method, s.Site, s.Layer)
			if isEmbeddingSite(s.Site) {
				tip = fmt.Sprintf("%s at %s", s.Method, s.Site)
			}
			if s.Label != "" {
				tip += " (" + s.Label + ")"
			}
			if s.Dropped {
				tip += ": dropped by AdapterDrop"
			}
			cls := "site"
			if s.Dropped {
				cls = "site dropped"
			}
			layerAttr := ""
			if !isEmbeddingSite(s.Site) {
				layerAttr = fmt.Sprintf(` data-layer="%d"`, s.Layer)
			}
			b.printf(`<g class="%s"%s><title>%s</title>`, cls, layerAttr, esc(tip))
			b.printf(`<rect x="%s" y="%s" width="%s" height="%s" rx="3" fill="%s" stroke="%s"%s/>`, f(x0), f(cy-mh/2), f(widths[i]), f(mh), fill, stroke, dash)
			b.printf(`<text x="%s" y="%s" font-size="10.5" font-weight="600" text-anchor="middle" fill="%s">%s</text></g>`, f(x0+widths[i]/2), f(cy+3.8), tc, esc(texts[i]))
			x0 += widths[i] + 2
		}
	}

	// Legend.
	ly := embY + rowH + 22
	x = 12
	b.printf(`<g font-size="12" fill="%s">`, colText)
	for _, e := range entries {
		w := 22 + textWidth(e.label, 12) + 16
		if x+w > W-8 && x > 12 {
			ly += 20
			x = 12
		}
		if e.col == "" {
			b.printf(`<rect x="%s" y="%s" width="16" height="12" rx="2" fill="url(#%s)" stroke="#616161" stroke-dasharray="3 2"/>`, f(x), f(ly-10), idPlaceholder)
		} else {
			b.printf(`<rect x="%s" y="%s" width="16" height="12" rx="2" fill="%s"/>`, f(x), f(ly-10), e.col)
		}
		b.printf(`<text x="%s" y="%s">%s</text>`, f(x+22), f(ly), esc(e.label))
		x += w
	}
	b.printf(`</g>`)
	ky := ly + 18
	if len(entries) == 0 {
		ky = embY + rowH + 20
	}
	for _, line := range keyLines {
		b.text(12, ky, 11, "start", colMuted, "", line, "")
		ky += 16
	}
	if len(sites) == 0 {
		b.text(W/2, top+float64(n)*rowH/2, 13, "middle", colMuted, "", "no adapters", `class="nodata"`)
	}
	label := opt.Title
	if label == "" {
		label = "layer diagram"
	}
	return b.finish(label)
}

// LayerDiagrams renders several configurations side by side (HStack), one
// diagram per config with the matching title. All share NumLayers so rows line up.
func LayerDiagrams(titles []string, configs [][]LayerSite, opt LayerDiagramOptions) string {
	n := opt.NumLayers
	if n <= 0 {
		for _, c := range configs {
			for _, s := range c {
				if !isEmbeddingSite(s.Site) && s.Layer+1 > n {
					n = s.Layer + 1
				}
			}
		}
	}
	items := make([]string, len(configs))
	for i, c := range configs {
		o := opt
		o.NumLayers = n
		if i < len(titles) {
			o.Title = titles[i]
		}
		items[i] = LayerDiagram(c, o)
	}
	return HStack(items...)
}

func isEmbeddingSite(s string) bool { return s == "embeddings" || s == "prompt" }

// wrapWords joins parts with sep, breaking into lines that fit width.
func wrapWords(parts []string, sep string, width, px float64) []string {
	var lines []string
	cur := ""
	for _, p := range parts {
		cand := p
		if cur != "" {
			cand = cur + sep + p
		}
		if cur != "" && textWidth(cand, px) > width {
			lines = append(lines, cur)
			cur = p
			continue
		}
		cur = cand
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
