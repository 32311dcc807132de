package widgets

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/signal"
)

// Values are the controls' values passed to an Interact or Bind render
// function, by control name.
type Values map[string]any

// Int is the value of the control named name as an int.
func (v Values) Int(name string) int { return int(toFloat(v[name])) }

// Float is the value of the control named name as a float64.
func (v Values) Float(name string) float64 { return toFloat(v[name]) }

// String is the value of the control named name as a string.
func (v Values) String(name string) string { return fmt.Sprint(orEmpty(v[name])) }

// Bool is the value of the control named name as a bool.
func (v Values) Bool(name string) bool { b, _ := v[name].(bool); return b }

// Bind returns an Output view holding render(values of controls), rendered
// again whenever one of the controls changes while Serve runs.
func Bind(render func(Values) string, controls ...*Control) *Control {
	values := func() Values {
		v := Values{}
		for _, c := range controls {
			v[c.name] = c.Value()
		}
		return v
	}
	view := Output("", render(values()))
	for _, c := range controls {
		c.OnChange(func(*Control) { view.Update(render(values())) })
	}
	return view
}

// Interact shows controls in a row above a view of render(their values),
// re-rendered as the reader changes them, e.g.
//
//	n := widgets.IntSlider("drop", 0, 0, 12)
//	widgets.Interact(func(v widgets.Values) string { return diagram(v.Int("drop")) }, n)
//
// With a live widget front-end it serves until the reader clicks Done
// (or interrupts the kernel); without one (nbconvert, nbclient, a console)
// it shows the defaults' view and returns at once. It returns the view.
func Interact(render func(Values) string, controls ...*Control) *Control {
	view := Bind(render, controls...)
	Show(VBox(HBox(controls...), view))
	Serve()
	return view
}

// Serve runs the OnChange and OnClick callbacks of this cell's controls as
// the reader uses them, until the reader clicks the Done button it shows,
// or interrupts the kernel (the cell then goes on after Serve). Callbacks
// run one at a time, in order. Where no widget front-end listens (nbconvert,
// nbclient, a console, outside the kernel) there is nobody to wait for: it
// returns at once.
func Serve() {
	h := hub()
	if h == nil {
		return
	}
	reply, err := h.call(map[string]any{"op": "watch"})
	if err != nil || toFloat(reply["frontend"]) == 0 {
		return
	}
	done := Button("", "Done")
	Show(done)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	defer signal.Stop(stop)
	for {
		select {
		case <-stop:
			return
		case <-h.closed:
			return
		case ev := <-h.events:
			id, _ := ev["id"].(string)
			c := local.byID(id)
			if c == nil {
				continue
			}
			switch ev["event"] {
			case "change":
				state, _ := ev["state"].(map[string]any)
				c.mu.Lock()
				for k, v := range state {
					c.state[k] = v
				}
				fs := append([]func(*Control){}, c.onChange...)
				c.mu.Unlock()
				for _, f := range fs {
					f(c)
				}
			case "custom":
				content, _ := ev["content"].(map[string]any)
				var bufs [][]byte
				for _, b := range asSlice(ev["buffers"]) {
					raw, _ := base64.StdEncoding.DecodeString(fmt.Sprint(b))
					bufs = append(bufs, raw)
				}
				c.mu.Lock()
				ms := append([]func(map[string]any, [][]byte){}, c.onMsg...)
				c.mu.Unlock()
				for _, f := range ms {
					f(content, bufs)
				}
				if content["event"] != "click" {
					continue
				}
				if c == done {
					done.set(map[string]any{"disabled": true})
					return
				}
				c.mu.Lock()
				fs := append([]func(){}, c.onClick...)
				c.mu.Unlock()
				for _, f := range fs {
					f()
				}
			}
		}
	}
}
