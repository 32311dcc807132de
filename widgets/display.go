package widgets

import (
	"fmt"
	"strings"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// Display shows an SVG or HTML rendering as the output of the current GoNB
// cell: strings starting with "<svg" go through gonbui.DisplaySvg, others
// through DisplayHtml. Both become text/html outputs, which GitHub and
// nbconvert show without JavaScript. Outside a notebook it writes nothing, so
// the same code runs quietly under `go test` or the CLI; use SaveSVG or Page
// there.
func Display(svgOrHTML string) {
	if !gonbui.IsNotebook {
		return
	}
	data := map[protocol.MIMEType]any{protocol.MIMETextHTML: svgOrHTML, protocol.MIMETextPlain: "[GoPEFT widget]"}
	if strings.HasPrefix(strings.TrimSpace(svgOrHTML), "<svg") {
		// Both: Jupyter and nbconvert pick the HTML (inline SVG, which
		// nbconvert's HTML keeps with JavaScript off); viewers that sanitise
		// HTML away fall back to the image.
		data[protocol.MIMETextHTML] = "<div>" + svgOrHTML + "</div>"
		data[protocol.MIMEImageSVG] = svgOrHTML
	}
	gonbui.SendData(&protocol.DisplayData{Data: data})
	// GoNB drops display data still in its pipe when the cell program exits.
	gonbui.Sync()
}

// SaveSVG writes svg to path atomically (temporary file in the same
// directory, then rename), so a reader never sees half a file.
func SaveSVG(path, svg string) error {
	return save(path, svg)
}

// SavePage writes a standalone HTML page (see Page) atomically.
func SavePage(path, title string, items ...string) error {
	return save(path, Page(title, items...))
}

func save(path, content string) error {
	if err := atomicfile.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("widgets: save: %w", err)
	}
	return nil
}

// HStack lays pieces of SVG/HTML side by side with a wrapping flexbox, so
// they stack vertically on narrow screens.
func HStack(items ...string) string {
	var sb strings.Builder
	sb.WriteString(`<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">`)
	for _, it := range items {
		sb.WriteString(`<div style="flex:1 1 320px;min-width:0;max-width:100%">`)
		sb.WriteString(it)
		sb.WriteString(`</div>`)
	}
	sb.WriteString(`</div>`)
	return sb.String()
}

// VStack stacks pieces vertically with spacing.
func VStack(items ...string) string {
	var sb strings.Builder
	sb.WriteString(`<div style="display:flex;flex-direction:column;gap:16px">`)
	for _, it := range items {
		sb.WriteString(`<div>`)
		sb.WriteString(it)
		sb.WriteString(`</div>`)
	}
	sb.WriteString(`</div>`)
	return sb.String()
}

// Page wraps renderings in a minimal standalone HTML document (for the CLI
// and previews).
func Page(title string, items ...string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>%s</title></head>", esc(title))
	fmt.Fprintf(&sb, `<body style="font-family:%s;color:%s;margin:24px;max-width:1100px">`, fontFamily, colText)
	if title != "" {
		fmt.Fprintf(&sb, `<h1 style="font-size:20px;font-weight:600">%s</h1>`, esc(title))
	}
	sb.WriteString(VStack(items...))
	sb.WriteString("</body></html>\n")
	return sb.String()
}
