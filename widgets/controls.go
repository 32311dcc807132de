package widgets

// Interactive controls over the standard Jupyter widget protocol. The
// models live in the gopeft kernel (kernel/widgets.go), which a cell program
// reaches over the unix socket named by $GOPEFT_WIDGETS; so a control keeps
// its value after the cell that made it ends, and Value(name) reads it in
// any later cell. Outside the kernel (go test, the CLI) controls live in
// the process and keep their defaults.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"os"
	"strings"
	"sync"
)

// Control is one widget: a value control (IntSlider, FloatSlider, Dropdown,
// ToggleButtons, Checkbox, Text), a Button, a layout box (HBox, VBox) or an
// Output view. Its methods are safe for concurrent use.
type Control struct {
	name, kind, id string

	mu       sync.Mutex
	state    map[string]any // canonical keys: value, min, max, step, description, options, children
	children []*Control
	parents  []*Control
	displays []string // display ids this control was shown under (roots only)
	onChange []func(*Control)
	onClick  []func()
	onMsg    []func(content map[string]any, buffers [][]byte)
}

// IntSlider is a slider of integers in [min, max], step 1.
func IntSlider(name string, value, min, max int) *Control {
	if min > max {
		min, max = max, min
	}
	return newControl("IntSlider", name, map[string]any{"value": clampInt(value, min, max), "min": min, "max": max, "step": 1, "description": name})
}

// FloatSlider is a slider of floats in [min, max] by step.
func FloatSlider(name string, value, min, max, step float64) *Control {
	if min > max {
		min, max = max, min
	}
	if step <= 0 {
		step = (max - min) / 100
	}
	return newControl("FloatSlider", name, map[string]any{"value": clampFloat(value, min, max), "min": min, "max": max, "step": step, "description": name})
}

// Dropdown picks one of options; value "" (or one not among them) is the first.
func Dropdown(name string, options []string, value string) *Control {
	return newSelection("Dropdown", name, options, value)
}

// ToggleButtons picks one of options shown as a row of buttons.
func ToggleButtons(name string, options []string, value string) *Control {
	return newSelection("ToggleButtons", name, options, value)
}

func newSelection(kind, name string, options []string, value string) *Control {
	opts := make([]any, len(options))
	found := false
	for i, o := range options {
		opts[i] = o
		found = found || o == value
	}
	if !found && len(options) > 0 {
		value = options[0]
	}
	return newControl(kind, name, map[string]any{"options": opts, "value": value, "description": name})
}

// Checkbox is a boolean.
func Checkbox(name string, value bool) *Control {
	return newControl("Checkbox", name, map[string]any{"value": value, "description": name})
}

// Text is a one-line string input.
func Text(name, value string) *Control {
	return newControl("Text", name, map[string]any{"value": value, "description": name})
}

// Button is a push button labelled label; OnClick runs while Serve runs.
func Button(name, label string) *Control {
	return newControl("Button", name, map[string]any{"description": label})
}

// Output is a view: HTML (SVG included) that the running cell replaces with
// Update. The last view is part of the saved widget state, and of the
// static snapshot where no front-end is live.
func Output(name, content string) *Control {
	return newControl("HTML", name, map[string]any{"value": content})
}

// HBox lays controls out in a row.
func HBox(children ...*Control) *Control { return newBox("HBox", children) }

// VBox stacks controls.
func VBox(children ...*Control) *Control { return newBox("VBox", children) }

func newBox(kind string, children []*Control) *Control {
	ids := make([]any, 0, len(children))
	for _, c := range children {
		ids = append(ids, c.id)
	}
	b := newControl(kind, "", map[string]any{"children": ids})
	b.children = children
	for _, c := range children {
		c.mu.Lock()
		c.parents = append(c.parents, b)
		c.mu.Unlock()
	}
	return b
}

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

func clampFloat(v, lo, hi float64) float64 { return max(lo, min(v, hi)) }

// newControl registers a control with the kernel. A control of the same
// name and kind from an earlier cell keeps its value (when it still fits
// the range or options): that is what makes re-running a cell keep what
// the reader chose.
func newControl(kind, name string, state map[string]any) *Control {
	c := &Control{name: name, kind: kind, state: state}
	if h := hub(); h != nil {
		reply, err := h.call(map[string]any{"op": "open", "kind": kind, "name": name, "state": state})
		if err == nil {
			c.id, _ = reply["id"].(string)
			if s, ok := reply["state"].(map[string]any); ok {
				c.state = s
			}
		} else {
			fmt.Fprintf(os.Stderr, "widgets: %v\n", err)
		}
	}
	if c.id == "" {
		c.id = fmt.Sprintf("local-%p", c)
	}
	local.add(c)
	return c
}

// Name is the name the control was made with ("" for boxes).
func (c *Control) Name() string { return c.name }

// Describe sets the label shown beside the control (default: its name; a
// Button's is its label).
func (c *Control) Describe(label string) *Control {
	c.set(map[string]any{"description": label})
	return c
}

// Value is the current value: int (IntSlider), float64 (FloatSlider), bool
// (Checkbox), string (Dropdown, ToggleButtons, Text, Output's HTML); nil for
// buttons and boxes.
func (c *Control) Value() any {
	if h := hub(); h != nil && c.kind != "HTML" {
		// The reader may have moved it since: the kernel has the value.
		if reply, err := h.call(map[string]any{"op": "get", "id": c.id}); err == nil {
			if s, ok := reply["state"].(map[string]any); ok {
				c.mu.Lock()
				c.state["value"] = s["value"]
				c.mu.Unlock()
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return typed(c.kind, c.state["value"])
}

// Int is Value as an int (0 if it is not a number).
func (c *Control) Int() int { return int(toFloat(c.Value())) }

// Float is Value as a float64 (0 if it is not a number).
func (c *Control) Float() float64 { return toFloat(c.Value()) }

// Str is Value as a string.
func (c *Control) Str() string { return fmt.Sprint(c.Value()) }

// Bool is Value as a bool.
func (c *Control) Bool() bool { b, _ := c.Value().(bool); return b }

// Set changes the value from the cell; the front-end's views follow.
func (c *Control) Set(value any) { c.set(map[string]any{"value": value}) }

// Update replaces an Output's content; where no front-end is live, the
// static snapshot of every display holding it is refreshed too.
func (c *Control) Update(content string) {
	c.set(map[string]any{"value": content})
	if h := hub(); h != nil && h.frontend() == 0 {
		for _, r := range c.roots() {
			r.redisplay(h)
		}
	}
}

func (c *Control) set(state map[string]any) {
	c.mu.Lock()
	for k, v := range state {
		c.state[k] = v
	}
	c.mu.Unlock()
	if h := hub(); h != nil {
		if _, err := h.call(map[string]any{"op": "set", "id": c.id, "state": state}); err != nil {
			fmt.Fprintf(os.Stderr, "widgets: %v\n", err)
		}
	}
}

// OnChange registers f, run (while Serve runs) after the reader changes
// the control's value.
func (c *Control) OnChange(f func(*Control)) *Control {
	c.mu.Lock()
	c.onChange = append(c.onChange, f)
	c.mu.Unlock()
	return c
}

// OnClick registers f, run (while Serve runs) when the button is clicked.
func (c *Control) OnClick(f func()) *Control {
	c.mu.Lock()
	c.onClick = append(c.onClick, f)
	c.mu.Unlock()
	return c
}

// OnMessage registers f, run (while Serve runs) on each custom message a
// view sends, with its binary buffers.
func (c *Control) OnMessage(f func(content map[string]any, buffers [][]byte)) *Control {
	c.mu.Lock()
	c.onMsg = append(c.onMsg, f)
	c.mu.Unlock()
	return c
}

// Send sends a custom message, with binary buffers, to the control's views.
func (c *Control) Send(content map[string]any, buffers ...[]byte) {
	h := hub()
	if h == nil {
		return
	}
	enc := make([]string, len(buffers))
	for i, b := range buffers {
		enc[i] = base64.StdEncoding.EncodeToString(b)
	}
	if _, err := h.call(map[string]any{"op": "send", "id": c.id, "content": content, "buffers": enc}); err != nil {
		fmt.Fprintf(os.Stderr, "widgets: %v\n", err)
	}
}

// Value returns the current value of the control named name, made by this
// cell or any earlier one (typed as Control.Value); nil when there is none.
func Value(name string) any {
	if h := hub(); h != nil {
		reply, err := h.call(map[string]any{"op": "get", "name": name})
		if err != nil {
			return nil
		}
		kind, _ := reply["kind"].(string)
		s, _ := reply["state"].(map[string]any)
		return typed(kind, s["value"])
	}
	if c := local.byName(name); c != nil {
		return c.Value()
	}
	return nil
}

func typed(kind string, v any) any {
	switch kind {
	case "IntSlider":
		return int(toFloat(v))
	case "FloatSlider":
		return toFloat(v)
	case "Checkbox":
		b, _ := v.(bool)
		return b
	case "Button", "HBox", "VBox":
		return nil
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return 0
}

func (c *Control) roots() []*Control {
	c.mu.Lock()
	parents := append([]*Control(nil), c.parents...)
	c.mu.Unlock()
	if len(parents) == 0 {
		return []*Control{c}
	}
	var out []*Control
	for _, p := range parents {
		out = append(out, p.roots()...)
	}
	return out
}

// Show displays controls in the cell's output (one display each): live
// where a widget front-end listens, else a static HTML snapshot of their
// current state (also under plain GoNB, which has no widget socket).
func Show(controls ...*Control) {
	h := hub()
	for _, c := range controls {
		if h == nil {
			// Plain GoNB, or no notebook at all: the static snapshot.
			Display(c.HTML())
			continue
		}
		id := newDisplayID()
		c.mu.Lock()
		c.displays = append(c.displays, id)
		c.mu.Unlock()
		if _, err := h.call(map[string]any{"op": "show", "id": c.id, "display_id": id, "html": c.HTML(), "text": c.Text()}); err != nil {
			fmt.Fprintf(os.Stderr, "widgets: %v\n", err)
		}
	}
}

func (c *Control) redisplay(h *hubClient) {
	c.mu.Lock()
	ids := append([]string(nil), c.displays...)
	c.mu.Unlock()
	for _, id := range ids {
		_, _ = h.call(map[string]any{"op": "redisplay", "id": c.id, "display_id": id, "html": c.HTML(), "text": c.Text()})
	}
}

var displaySeq struct {
	sync.Mutex
	n int
}

func newDisplayID() string {
	displaySeq.Lock()
	defer displaySeq.Unlock()
	displaySeq.n++
	return fmt.Sprintf("gopeft-%d-%d", os.Getpid(), displaySeq.n)
}

// HTML is a static snapshot of the control: what a saved notebook, nbconvert
// or GitHub shows where no widget front-end runs.
func (c *Control) HTML() string {
	c.mu.Lock()
	s := copyMap(c.state)
	children := append([]*Control(nil), c.children...)
	c.mu.Unlock()
	desc := html.EscapeString(fmt.Sprint(orEmpty(s["description"])))
	label := func(body string) string {
		return fmt.Sprintf(`<div style="font-family:%s;font-size:13px;color:%s;margin:2px 8px 2px 0"><span style="font-weight:600">%s</span> %s</div>`, fontFamily, colText, desc, body)
	}
	val := html.EscapeString(fmt.Sprint(typed(c.kind, s["value"])))
	switch c.kind {
	case "IntSlider", "FloatSlider":
		return label(fmt.Sprintf(`%s <span style="color:#666">(%v … %v)</span>`, val, s["min"], s["max"]))
	case "Dropdown", "ToggleButtons":
		var opts []string
		for _, o := range asSlice(s["options"]) {
			opts = append(opts, html.EscapeString(fmt.Sprint(o)))
		}
		return label(fmt.Sprintf(`%s <span style="color:#666">(of %s)</span>`, val, strings.Join(opts, " | ")))
	case "Checkbox":
		mark := "☐"
		if c.Bool() {
			mark = "☑"
		}
		return label(mark)
	case "Text":
		return label("“" + val + "”")
	case "Button":
		return fmt.Sprintf(`<span style="font-family:%s;font-size:13px;border:1px solid #999;border-radius:3px;padding:2px 10px;margin:2px 8px 2px 0;display:inline-block">%s</span>`, fontFamily, desc)
	case "HTML":
		return fmt.Sprint(orEmpty(s["value"]))
	}
	var parts []string
	for _, ch := range children {
		parts = append(parts, ch.HTML())
	}
	dir := "row;flex-wrap:wrap;align-items:center"
	if c.kind == "VBox" {
		dir = "column"
	}
	return fmt.Sprintf(`<div style="display:flex;flex-direction:%s;gap:6px">%s</div>`, dir, strings.Join(parts, ""))
}

// Text is a plain-text form of the control (the text/plain fallback).
func (c *Control) Text() string {
	c.mu.Lock()
	s := copyMap(c.state)
	children := append([]*Control(nil), c.children...)
	c.mu.Unlock()
	switch c.kind {
	case "HBox", "VBox":
		var parts []string
		for _, ch := range children {
			parts = append(parts, ch.Text())
		}
		return c.kind + "(" + strings.Join(parts, ", ") + ")"
	case "HTML":
		return "Output(" + c.name + ")"
	case "Button":
		return fmt.Sprintf("Button(%v)", s["description"])
	}
	return fmt.Sprintf("%s(%s=%v)", c.kind, c.name, typed(c.kind, s["value"]))
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// registry is this process's controls, by id and name.
type registry struct {
	mu    sync.Mutex
	ids   map[string]*Control
	names map[string]*Control
}

var local = &registry{ids: map[string]*Control{}, names: map[string]*Control{}}

func (r *registry) add(c *Control) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[c.id] = c
	if c.name != "" {
		r.names[c.name] = c
	}
}

func (r *registry) byID(id string) *Control {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

func (r *registry) byName(name string) *Control {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[name]
}

// hubClient is the connection to the kernel's widget socket.
type hubClient struct {
	conn   net.Conn
	mu     sync.Mutex // one request at a time
	seq    int
	reply  chan map[string]any
	events chan map[string]any
	format int
	closed chan struct{}
}

var (
	hubOnce sync.Once
	theHub  *hubClient
)

// hub connects to the kernel on first use; nil outside the gopeft kernel.
func hub() *hubClient {
	hubOnce.Do(func() {
		path := os.Getenv("GOPEFT_WIDGETS")
		if path == "" {
			return
		}
		conn, err := net.Dial("unix", path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "widgets: the kernel's widget socket %s: %v (controls keep their defaults)\n", path, err)
			return
		}
		h := &hubClient{conn: conn, reply: make(chan map[string]any, 1), events: make(chan map[string]any, 4096), closed: make(chan struct{})}
		go h.read()
		if r, err := h.call(map[string]any{"op": "info"}); err == nil {
			h.format = int(toFloat(r["frontend"]))
		}
		theHub = h
	})
	return theHub
}

func (h *hubClient) frontend() int { return h.format }

func (h *hubClient) read() {
	defer close(h.closed)
	sc := bufio.NewScanner(h.conn)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil {
			continue
		}
		if _, ok := m["event"]; ok {
			select {
			case h.events <- m:
			default: // a flood of events while nobody serves: drop
			}
			continue
		}
		h.reply <- m
	}
}

func (h *hubClient) call(req map[string]any) (map[string]any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	req["seq"] = h.seq
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := h.conn.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	select {
	case r := <-h.reply:
		if e, ok := r["error"].(string); ok {
			return r, fmt.Errorf("%s", e)
		}
		return r, nil
	case <-h.closed:
		return nil, fmt.Errorf("the kernel closed the widget socket")
	}
}
