package kernel

// The Jupyter widget protocol, spoken by the kernel itself: widget models
// live here, not in the cell programs (each cell is a separate process), so a
// control keeps its value from one cell to the next. Cell programs reach the
// models over a unix socket in the kernel's 0700 work dir (GOPEFT_WIDGETS in
// their environment), in newline-delimited JSON; package widgets is the
// client. The front-end sees ordinary comms of target "jupyter.widget".
//
// Three wire formats, picked by what the front-end announces:
//
//   - ipywidgets 6 (Debian 12's python3-widgetsnbextension 6.0.0, front-end
//     jupyter-js-widgets ~2.1.4, the classic Notebook): the front-end opens a
//     "jupyter.widget.version" comm; comm_open data is the flat state,
//     modules "jupyter-js-widgets" "~2.1.4"; the front-end syncs with
//     {method: "backbone", sync_data, buffer_keys}; a view is shown by
//     {method: "display"} under the cell's request.
//   - widget message protocol 2.1.0 (ipywidgets 8: JupyterLab 4, Notebook 7,
//     VS Code, Colab; nbclient's saved widget state): comm_open data
//     {state, buffer_paths} with metadata {version: "2.1.0"}, modules
//     "@jupyter-widgets/controls" / "@jupyter-widgets/base" "2.0.0"; the
//     front-end sends {method: "update", state, buffer_paths}, the kernel
//     answers echo_update; a "jupyter.widget.control" comm gets
//     request_states / update_states. Used too when no front-end has
//     announced itself (nbclient, nbconvert, jupyter_client).
//   - protocol 2.0.0 (ipywidgets 7: JupyterLab 3, widgetsnbextension 3.x):
//     a front-end that asks comm_info for "jupyter.widget" and opens no
//     control or version comm; as 2.1.0 but with metadata version "2.0.0",
//     controls "1.5.0" / base "1.2.0", description_tooltip, no echo_update.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
)

// WidgetsEnv names the environment variable that gives cell programs the
// path of the kernel's widget socket.
const WidgetsEnv = "GOPEFT_WIDGETS"

// Widget wire formats.
const (
	widgetsNone = 0 // no front-end has announced itself: 2.1.0 format, static fallbacks
	widgets6    = 6 // ipywidgets 6 / jupyter-js-widgets 2.1 (Debian's classic Notebook)
	widgets7    = 7 // protocol 2.0.0 (ipywidgets 7)
	widgets8    = 8 // protocol 2.1.0 (ipywidgets 8)
)

const (
	widgetProtocol8  = "2.1.0"
	controlsVersion8 = "2.0.0"
	widgetProtocol7  = "2.0.0"
	controlsVersion7 = "1.5.0"
	baseVersion7     = "1.2.0"
	frontendVersion6 = "~2.1.4"
	widgetViewMIME   = "application/vnd.jupyter.widget-view+json"
)

// kindSpec is how one kind of control looks on the wire. State keys the
// cell sends are canonical (value, min, max, step, description, options,
// children, ...); wireState adds the module names and the per-format
// defaults, and translates selections (options+value <-> _options_labels
// +index in 2.1.0).
type kindSpec struct {
	model, view string
	style       string         // 2.1.0 style model ("" = none)
	common      map[string]any // both formats
	only6       map[string]any
	only8       map[string]any
	selection   bool // options/value over _options_labels (6: value is the label; 8: index)
}

var widgetKinds = map[string]kindSpec{
	"IntSlider": {model: "IntSliderModel", view: "IntSliderView", style: "SliderStyleModel",
		common: map[string]any{"min": 0, "max": 100, "step": 1, "value": 0, "orientation": "horizontal", "readout": true, "readout_format": "d", "continuous_update": false},
		only6:  map[string]any{"_range": false}, only8: map[string]any{"behavior": "drag-tap"}},
	"FloatSlider": {model: "FloatSliderModel", view: "FloatSliderView", style: "SliderStyleModel",
		common: map[string]any{"min": 0.0, "max": 1.0, "step": 0.01, "value": 0.0, "orientation": "horizontal", "readout": true, "readout_format": ".2f", "continuous_update": false},
		only6:  map[string]any{"_range": false, "slider_color": nil}, only8: map[string]any{"behavior": "drag-tap"}},
	"Dropdown": {model: "DropdownModel", view: "DropdownView", style: "DescriptionStyleModel", selection: true},
	"ToggleButtons": {model: "ToggleButtonsModel", view: "ToggleButtonsView", style: "ToggleButtonsStyleModel", selection: true,
		common: map[string]any{"button_style": "", "icons": []any{}, "tooltips": []any{}}},
	"Checkbox": {model: "CheckboxModel", view: "CheckboxView", style: "CheckboxStyleModel",
		common: map[string]any{"value": false}, only8: map[string]any{"indent": true}},
	"Button": {model: "ButtonModel", view: "ButtonView", style: "ButtonStyleModel",
		common: map[string]any{"button_style": "", "icon": "", "tooltip": ""}},
	"Text": {model: "TextModel", view: "TextView", style: "TextStyleModel",
		common: map[string]any{"value": "", "placeholder": "\u200b"}, only8: map[string]any{"continuous_update": true}},
	"HTML": {model: "HTMLModel", view: "HTMLView", style: "HTMLStyleModel",
		common: map[string]any{"value": "", "placeholder": "\u200b"}},
	"HBox": {model: "HBoxModel", view: "HBoxView", common: map[string]any{"children": []any{}, "box_style": ""}},
	"VBox": {model: "VBoxModel", view: "VBoxView", common: map[string]any{"children": []any{}, "box_style": ""}},
}

// wmodel is one widget model: a control, or the layout/style model of one.
type wmodel struct {
	id, name, kind string
	state          map[string]any // canonical keys
	layout, style  string         // ids of its layout and style models ("" = none)
	aux            string         // "layout" or "style" for those models
	opened         int            // format its comm_open went out in; 0 = not yet
}

// widgetHub holds the models and serves the cell programs' socket.
type widgetHub struct {
	k    *Kernel
	path string
	ln   net.Listener

	mu       sync.Mutex
	models   map[string]*wmodel
	byName   map[string]string
	format   int             // front-end's format (widgets6, widgets8) or widgetsNone
	frontend map[string]bool // comm ids of the front-end's version/control comms
	watchers map[*hubConn]bool
}

func startWidgetHub(k *Kernel, dir string) (*widgetHub, error) {
	h := &widgetHub{k: k, path: filepath.Join(dir, "widgets.sock"), models: map[string]*wmodel{},
		byName: map[string]string{}, frontend: map[string]bool{}, watchers: map[*hubConn]bool{}}
	ln, err := net.Listen("unix", h.path)
	if err != nil {
		return nil, fmt.Errorf("widget socket: %w", err)
	}
	// The dir is 0700 already; the socket too, and peers are checked.
	_ = os.Chmod(h.path, 0o600)
	h.ln = ln
	go h.accept()
	return h, nil
}

func (h *widgetHub) close() {
	if h != nil && h.ln != nil {
		_ = h.ln.Close()
	}
}

func (h *widgetHub) accept() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		if !sameUser(c) {
			h.k.logger.Printf("widget socket: refusing a connection from another user")
			c.Close()
			continue
		}
		hc := &hubConn{c: c, enc: json.NewEncoder(c)}
		go h.serve(hc)
	}
}

// sameUser checks the peer's uid (SO_PEERCRED): only this user's processes
// may drive the widgets.
func sameUser(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	return err == nil && cred != nil && int(cred.Uid) == os.Getuid()
}

// hubConn is one cell program's connection.
type hubConn struct {
	c   net.Conn
	mu  sync.Mutex
	enc *json.Encoder
}

func (c *hubConn) send(v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.enc.Encode(v)
}

// hubRequest is one line from a cell program.
type hubRequest struct {
	Seq       int            `json:"seq"`
	Op        string         `json:"op"`
	ID        string         `json:"id,omitempty"`
	Name      string         `json:"name,omitempty"`
	Kind      string         `json:"kind,omitempty"`
	State     map[string]any `json:"state,omitempty"`
	Content   any            `json:"content,omitempty"`
	Buffers   []string       `json:"buffers,omitempty"` // base64
	DisplayID string         `json:"display_id,omitempty"`
	HTML      string         `json:"html,omitempty"`
	Text      string         `json:"text,omitempty"`
}

func (h *widgetHub) serve(c *hubConn) {
	defer func() {
		h.mu.Lock()
		delete(h.watchers, c)
		h.mu.Unlock()
		c.c.Close()
	}()
	sc := bufio.NewScanner(c.c)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var r hubRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			c.send(map[string]any{"error": "bad request: " + err.Error()})
			return
		}
		reply, err := h.handle(c, &r)
		if reply == nil {
			reply = map[string]any{}
		}
		reply["seq"] = r.Seq
		if err != nil {
			reply["error"] = err.Error()
		}
		c.send(reply)
	}
}

func (h *widgetHub) handle(c *hubConn, r *hubRequest) (map[string]any, error) {
	switch r.Op {
	case "open":
		return h.open(r)
	case "set":
		return nil, h.set(r.ID, r.State)
	case "get":
		h.mu.Lock()
		defer h.mu.Unlock()
		id := r.ID
		if id == "" {
			id = h.byName[r.Name]
		}
		m := h.models[id]
		if m == nil {
			return nil, fmt.Errorf("no control named %q: a cell must create it first (e.g. widgets.IntSlider(%q, ...))", r.Name, r.Name)
		}
		return map[string]any{"id": m.id, "kind": m.kind, "state": copyState(m.state)}, nil
	case "show":
		return nil, h.show(r)
	case "redisplay":
		h.redisplay(r)
		return nil, nil
	case "send":
		return nil, h.custom(r)
	case "watch":
		h.mu.Lock()
		h.watchers[c] = true
		f := h.format
		h.mu.Unlock()
		return map[string]any{"frontend": f}, nil
	case "info":
		h.mu.Lock()
		defer h.mu.Unlock()
		return map[string]any{"frontend": h.format}, nil
	}
	return nil, fmt.Errorf("unknown op %q", r.Op)
}

// open creates a control, or finds the one of that name made by an earlier
// cell: then its value is kept and the other attributes are refreshed.
func (h *widgetHub) open(r *hubRequest) (map[string]any, error) {
	spec, ok := widgetKinds[r.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown widget kind %q", r.Kind)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if id, ok := h.byName[r.Name]; ok && r.Name != "" {
		m := h.models[id]
		if m.kind == r.Kind {
			old, hadValue := m.state["value"]
			for k, v := range r.State {
				m.state[k] = v
			}
			if hadValue && valueFits(m, old) {
				m.state["value"] = old
			}
			h.sendUpdate(m, m.state, nil)
			return map[string]any{"id": m.id, "state": copyState(m.state)}, nil
		}
		// Same name, other kind: the new control takes the name.
	}
	m := &wmodel{id: newID(), name: r.Name, kind: r.Kind, state: map[string]any{}}
	for k, v := range spec.common {
		m.state[k] = v
	}
	for k, v := range r.State {
		m.state[k] = v
	}
	if spec.selection {
		if _, ok := m.state["options"]; !ok {
			m.state["options"] = []any{}
		}
		if _, ok := m.state["value"]; !ok {
			if opts, _ := m.state["options"].([]any); len(opts) > 0 {
				m.state["value"] = opts[0]
			}
		}
	}
	lay := &wmodel{id: newID(), aux: "layout", state: map[string]any{}}
	h.models[lay.id] = lay
	m.layout = lay.id
	if spec.style != "" {
		st := &wmodel{id: newID(), aux: "style", kind: spec.style, state: map[string]any{}}
		h.models[st.id] = st
		m.style = st.id
	}
	h.models[m.id] = m
	if r.Name != "" {
		h.byName[r.Name] = m.id
	}
	return map[string]any{"id": m.id, "state": copyState(m.state)}, nil
}

// valueFits reports whether a kept value is still valid for m's new range
// or options.
func valueFits(m *wmodel, v any) bool {
	switch m.kind {
	case "IntSlider", "FloatSlider":
		x, ok1 := num(v)
		lo, ok2 := num(m.state["min"])
		hi, ok3 := num(m.state["max"])
		return ok1 && ok2 && ok3 && x >= lo && x <= hi
	case "Dropdown", "ToggleButtons":
		return indexOf(m.state["options"], v) >= 0
	}
	return true
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func indexOf(options, v any) int {
	opts, _ := options.([]any)
	for i, o := range opts {
		if o == v {
			return i
		}
	}
	return -1
}

func copyState(s map[string]any) map[string]any {
	out := make(map[string]any, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// set changes a control from the cell side and tells the front-end.
func (h *widgetHub) set(id string, state map[string]any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.models[id]
	if m == nil {
		return fmt.Errorf("no widget %s", id)
	}
	for k, v := range state {
		m.state[k] = v
	}
	h.sendUpdate(m, state, nil)
	return nil
}

// wireFormat is the format models go out in: the front-end's, or 2.1.0.
func (h *widgetHub) wireFormat() int {
	if h.format == widgetsNone {
		return widgets8
	}
	return h.format
}

// wireState is m's full state in format f.
func (h *widgetHub) wireState(m *wmodel, f int) map[string]any {
	if m.aux != "" {
		return h.auxState(m, f)
	}
	s := map[string]any{}
	spec := widgetKinds[m.kind]
	if f == widgets6 {
		s["_model_module"], s["_view_module"] = "jupyter-js-widgets", "jupyter-js-widgets"
		s["_model_module_version"], s["_view_module_version"] = frontendVersion6, frontendVersion6
		s["msg_throttle"] = 1
		for k, v := range spec.only6 {
			s[k] = v
		}
	} else {
		s["_model_module"], s["_view_module"] = "@jupyter-widgets/controls", "@jupyter-widgets/controls"
		s["_model_module_version"], s["_view_module_version"] = controlsVersion8, controlsVersion8
		s["_view_count"] = nil
		if f == widgets7 {
			// 7: older controls; tooltip was description_tooltip.
			s["_model_module_version"], s["_view_module_version"] = controlsVersion7, controlsVersion7
			s["description_tooltip"] = nil
		} else {
			s["tabbable"], s["tooltip"] = nil, nil
			s["description_allow_html"] = false
			for k, v := range spec.only8 {
				s[k] = v
			}
		}
		if m.style != "" {
			s["style"] = "IPY_MODEL_" + m.style
		}
	}
	s["_model_name"], s["_view_name"] = spec.model, spec.view
	s["_dom_classes"] = []any{}
	s["description"], s["disabled"] = "", false
	s["layout"] = "IPY_MODEL_" + m.layout
	for k, v := range h.wireKeys(m, m.state, f) {
		s[k] = v
	}
	return s
}

// wireKeys translates canonical keys to format f.
func (h *widgetHub) wireKeys(m *wmodel, state map[string]any, f int) map[string]any {
	s := map[string]any{}
	spec := widgetKinds[m.kind]
	for k, v := range state {
		switch {
		case k == "children":
			ids, _ := v.([]any)
			refs := make([]any, 0, len(ids))
			for _, id := range ids {
				refs = append(refs, fmt.Sprint("IPY_MODEL_", id))
			}
			s[k] = refs
		case spec.selection && k == "options":
			s["_options_labels"] = v
			if f != widgets6 {
				s["index"] = indexOf(v, m.state["value"])
			}
		case spec.selection && k == "value" && f != widgets6:
			s["index"] = indexOf(m.state["options"], v)
		default:
			s[k] = v
		}
	}
	return s
}

func (h *widgetHub) auxState(m *wmodel, f int) map[string]any {
	s := map[string]any{"_view_count": nil}
	base, ver, controls := "@jupyter-widgets/base", controlsVersion8, controlsVersion8
	if f == widgets7 {
		ver, controls = baseVersion7, controlsVersion7
	}
	if f == widgets6 {
		base, ver = "jupyter-js-widgets", frontendVersion6
		s = map[string]any{"msg_throttle": 1}
	}
	if m.aux == "layout" {
		s["_model_name"], s["_view_name"] = "LayoutModel", "LayoutView"
		s["_model_module"], s["_view_module"] = base, base
	} else {
		s["_model_name"], s["_view_name"] = m.kind, "StyleView"
		if f == widgets7 && (m.kind == "HTMLStyleModel" || m.kind == "TextStyleModel" || m.kind == "CheckboxStyleModel") {
			s["_model_name"] = "DescriptionStyleModel" // controls 1.5.0 has no per-kind ones
		}
		s["_model_module"], s["_view_module"] = "@jupyter-widgets/controls", base
		s["description_width"] = ""
		s["_model_module_version"], s["_view_module_version"] = controls, ver
		return s
	}
	s["_model_module_version"], s["_view_module_version"] = ver, ver
	return s
}

// ensureOpen sends the comm_open of m (its layout, style and children
// first: the front-end resolves IPY_MODEL_ references when the model opens).
// h.mu is held.
func (h *widgetHub) ensureOpen(m *wmodel, parent *Message) {
	f := h.wireFormat()
	if m.opened == f {
		return
	}
	for _, dep := range []string{m.layout, m.style} {
		if d := h.models[dep]; d != nil && (f != widgets6 || d.aux == "layout") {
			h.ensureOpen(d, parent)
		}
	}
	if ids, ok := m.state["children"].([]any); ok {
		for _, id := range ids {
			if c := h.models[fmt.Sprint(id)]; c != nil {
				h.ensureOpen(c, parent)
			}
		}
	}
	state := h.wireState(m, f)
	content := map[string]any{"comm_id": m.id, "target_name": "jupyter.widget"}
	var meta map[string]any
	if f == widgets6 {
		content["data"] = state
	} else {
		content["data"] = map[string]any{"state": state, "buffer_paths": []any{}}
		meta = h.meta(f)
	}
	h.publish("comm_open", parent, content, meta, nil)
	m.opened = f
	h.k.addComm(m.id, "jupyter.widget")
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// sendUpdate tells the front-end about changed canonical keys (if m is open).
func (h *widgetHub) sendUpdate(m *wmodel, changed map[string]any, parent *Message) {
	if m.opened == 0 {
		return
	}
	f := h.wireFormat()
	if m.opened != f {
		h.ensureOpen(m, parent)
		return
	}
	data := map[string]any{"method": "update", "state": h.wireKeys(m, changed, f)}
	if f == widgets6 {
		data["buffers"] = []any{}
	} else {
		data["buffer_paths"] = []any{}
	}
	h.publish("comm_msg", parent, map[string]any{"comm_id": m.id, "data": data}, h.meta(f), nil)
}

func (h *widgetHub) meta(f int) map[string]any {
	switch f {
	case widgets8:
		return map[string]any{"version": widgetProtocol8}
	case widgets7:
		return map[string]any{"version": widgetProtocol7}
	}
	return nil
}

// publish sends an iopub message under parent (the running cell's request
// when nil and a cell runs).
func (h *widgetHub) publish(msgType string, parent *Message, content any, meta map[string]any, buffers [][]byte) {
	if parent == nil {
		parent = h.k.runningRequest()
	}
	msg := newMessage(h.k.session, msgType, parent, content)
	if meta != nil {
		msg.RawMeta = mustJSON(meta)
	}
	msg.Buffers = buffers
	h.k.publish(msg)
}

// show displays a control in the running cell's output: a display_data with
// the widget-view MIME type (what 2.1.0 front-ends and saved notebooks
// render), and for ipywidgets 6 the {method: "display"} comm message its
// classic Notebook extension displays by. The text/html snapshot the cell
// sends is kept where no live front-end replaces it.
func (h *widgetHub) show(r *hubRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.models[r.ID]
	if m == nil {
		return fmt.Errorf("no widget %s", r.ID)
	}
	h.ensureOpen(m, nil)
	f := h.wireFormat()
	data := map[string]any{widgetViewMIME: map[string]any{"model_id": m.id, "version_major": 2, "version_minor": 0}}
	if f == widgets6 {
		// ipywidgets 6 shows the view in the cell's widget area; a text
		// fallback in the output area would show beside it.
		h.publish("comm_msg", nil, map[string]any{"comm_id": m.id, "data": map[string]any{"method": "display"}}, nil, nil)
	} else {
		data["text/plain"] = r.Text
		if r.HTML != "" {
			data["text/html"] = r.HTML
		}
	}
	content := map[string]any{"data": data, "metadata": map[string]any{}, "transient": map[string]any{}}
	if r.DisplayID != "" {
		content["transient"] = map[string]any{"display_id": r.DisplayID}
	}
	h.publish("display_data", nil, content, nil, nil)
	return nil
}

// redisplay refreshes the static snapshot of a shown view, for a notebook
// saved with no live front-end (nbclient keeps the last update_display_data).
func (h *widgetHub) redisplay(r *hubRequest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.format != widgetsNone || r.DisplayID == "" {
		return
	}
	data := map[string]any{widgetViewMIME: map[string]any{"model_id": r.ID, "version_major": 2, "version_minor": 0},
		"text/plain": r.Text}
	if r.HTML != "" {
		data["text/html"] = r.HTML
	}
	h.publish("update_display_data", nil, map[string]any{"data": data, "metadata": map[string]any{},
		"transient": map[string]any{"display_id": r.DisplayID}}, nil, nil)
}

// custom sends a custom message (with binary buffers) to a model's views.
func (h *widgetHub) custom(r *hubRequest) error {
	bufs := make([][]byte, len(r.Buffers))
	for i, b := range r.Buffers {
		var err error
		if bufs[i], err = base64.StdEncoding.DecodeString(b); err != nil {
			return fmt.Errorf("buffer %d: %w", i, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.models[r.ID]
	if m == nil {
		return fmt.Errorf("no widget %s", r.ID)
	}
	h.ensureOpen(m, nil)
	h.publish("comm_msg", nil, map[string]any{"comm_id": m.id, "data": map[string]any{"method": "custom", "content": r.Content}},
		h.meta(h.wireFormat()), bufs)
	return nil
}

// notify pushes an event to every watching cell program; h.mu is held.
func (h *widgetHub) notify(ev map[string]any) {
	for c := range h.watchers {
		c.send(ev)
	}
}

// fromClient handles the front-end's comm traffic for widgets; it reports
// false for comms that are not the hub's (GoNB gets those).
func (h *widgetHub) fromClient(m *Message) bool {
	c := m.Content()
	id, _ := c["comm_id"].(string)
	data, _ := c["data"].(map[string]any)
	switch m.Header.MsgType {
	case "comm_open":
		target, _ := c["target_name"].(string)
		switch target {
		case "jupyter.widget.version":
			h.mu.Lock()
			h.format = widgets6
			h.frontend[id] = true
			h.mu.Unlock()
			h.publish("comm_msg", m, map[string]any{"comm_id": id, "data": map[string]any{"version": frontendVersion6}}, nil, nil)
			return true
		case "jupyter.widget.control":
			h.mu.Lock()
			if h.format != widgets6 {
				h.format = widgets8
			}
			h.frontend[id] = true
			h.mu.Unlock()
			return true
		case "jupyter.widget":
			// A front-end-made widget has no kernel-side class here.
			h.publish("comm_close", m, map[string]any{"comm_id": id, "data": map[string]any{}}, nil, nil)
			return true
		}
		return false
	case "comm_close":
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.frontend[id] {
			delete(h.frontend, id)
			return true
		}
		if mm := h.models[id]; mm != nil {
			mm.opened = 0
			return true
		}
		return false
	case "comm_msg":
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.frontend[id] {
			if method, _ := data["method"].(string); method == "request_states" {
				h.sendStates(id, m)
			} else if v, ok := data["validated"].(bool); ok && !v {
				h.k.logger.Printf("the widget front-end (%v) reports a version mismatch with %s", data["frontend_version"], frontendVersion6)
			}
			return true
		}
		mm := h.models[id]
		if mm == nil {
			return false
		}
		h.fromView(mm, data, m)
		return true
	}
	return false
}

// fromView applies a front-end message to model mm; h.mu is held.
func (h *widgetHub) fromView(mm *wmodel, data map[string]any, m *Message) {
	method, _ := data["method"].(string)
	switch method {
	case "backbone", "update":
		state, _ := data["sync_data"].(map[string]any)
		if method == "update" {
			state, _ = data["state"].(map[string]any)
		}
		changed := h.canonical(mm, state)
		for k, v := range changed {
			mm.state[k] = v
		}
		if method == "update" && len(state) > 0 && h.wireFormat() == widgets8 {
			// 2.1.0: echo, so other views of the model (other front-ends)
			// agree with the kernel.
			h.publish("comm_msg", m, map[string]any{"comm_id": mm.id, "data": map[string]any{"method": "echo_update",
				"state": state, "buffer_paths": []any{}}}, h.meta(widgets8), nil)
		}
		if len(changed) > 0 {
			h.notify(map[string]any{"event": "change", "id": mm.id, "state": changed})
		}
	case "request_state":
		f := h.wireFormat()
		data := map[string]any{"method": "update", "state": h.wireState(mm, f)}
		if f == widgets6 {
			data["buffers"] = []any{}
		} else {
			data["buffer_paths"] = []any{}
		}
		h.publish("comm_msg", m, map[string]any{"comm_id": mm.id, "data": data}, h.meta(f), nil)
	case "custom":
		var bufs []string
		for _, b := range m.Buffers {
			bufs = append(bufs, base64.StdEncoding.EncodeToString(b))
		}
		h.notify(map[string]any{"event": "custom", "id": mm.id, "content": data["content"], "buffers": bufs})
	}
}

// canonical turns a front-end's state keys into canonical ones, keeping
// only what a view may change.
func (h *widgetHub) canonical(mm *wmodel, state map[string]any) map[string]any {
	out := map[string]any{}
	spec := widgetKinds[mm.kind]
	for k, v := range state {
		switch {
		case spec.selection && k == "index":
			i, ok := num(v)
			opts, _ := mm.state["options"].([]any)
			if ok && int(i) >= 0 && int(i) < len(opts) {
				out["value"] = opts[int(i)]
			}
		case k == "value":
			out[k] = v
		}
	}
	return out
}

// sendStates answers a 2.1.0 control comm's request_states with every open
// model; h.mu is held.
func (h *widgetHub) sendStates(commID string, parent *Message) {
	states := map[string]any{}
	ids := make([]string, 0, len(h.models))
	for id := range h.models {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := h.models[id]
		if m.opened == 0 {
			continue
		}
		s := h.wireState(m, widgets8)
		states[id] = map[string]any{"model_name": s["_model_name"], "model_module": s["_model_module"],
			"model_module_version": s["_model_module_version"], "state": s}
	}
	h.publish("comm_msg", parent, map[string]any{"comm_id": commID, "data": map[string]any{"method": "update_states",
		"states": states, "buffer_paths": map[string]any{}}}, h.meta(widgets8), nil)
}

// noteCommInfo records that a front-end's widget manager asked for the
// kernel's widgets: a live front-end is listening. An ipywidgets 8 manager
// opens a control comm first (and asks comm_info only where that fails),
// ipywidgets 6 opens a version comm too: comm_info alone is ipywidgets 7.
func (h *widgetHub) noteCommInfo(target string) {
	if target != "jupyter.widget" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.format == widgetsNone {
		h.format = widgets7
	}
}
