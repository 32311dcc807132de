package kernel

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
)

// gonbWSURL is how GoNB 0.11.1's widget JavaScript addresses the kernel: plain
// ws:// at the server root, which fails under https and under a base URL
// (JupyterHub serves kernels at /user/<name>/api/kernels/...).
const gonbWSURL = `"ws://" + document.location.host + "/api/kernels/`

// pageWSURL derives the scheme and base URL from the page: JupyterLab's
// config data, or the classic notebook's data-base-url.
const pageWSURL = `(function(){var b="/";try{var c=document.getElementById("jupyter-config-data");` +
	`if(c){b=JSON.parse(c.textContent).baseUrl||b}else if(document.body&&document.body.dataset.baseUrl){b=document.body.dataset.baseUrl}}catch(e){}` +
	`if(b.slice(-1)!=="/"){b+="/"}return (location.protocol==="https:"?"wss://":"ws://")+location.host+b})() + "api/kernels/`

// fixWidgetJS rewrites GoNB's websocket address in display data.
func fixWidgetJS(m *Message) {
	if t := m.Header.MsgType; t != "display_data" && t != "update_display_data" {
		return
	}
	if !bytes.Contains(m.RawContent, []byte("api/kernels/")) {
		return
	}
	c := m.Content()
	data, _ := c["data"].(map[string]any)
	changed := false
	for mime, v := range data {
		if s, ok := v.(string); ok && strings.Contains(s, gonbWSURL) {
			data[mime] = strings.ReplaceAll(s, gonbWSURL, pageWSURL)
			changed = true
		}
	}
	if changed {
		m.setContent(c)
	}
}

// logFilter passes GoNB's log to w without its per-cell info lines (klog
// lines starting with "I"), unless GOPEFT_KERNEL_DEBUG is set.
type logFilter struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func newLogFilter(w io.Writer) io.Writer {
	if os.Getenv("GOPEFT_KERNEL_DEBUG") != "" {
		return w
	}
	return &logFilter{w: w}
}

func (f *logFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf.Write(p)
	consumed := 0
	data := f.buf.Bytes()
	for {
		i := bytes.IndexByte(data[consumed:], '\n')
		if i < 0 {
			break
		}
		line := data[consumed : consumed+i+1]
		consumed += i + 1
		if len(line) > 1 && line[0] == 'I' && line[1] >= '0' && line[1] <= '9' {
			continue
		}
		_, _ = f.w.Write(line)
	}
	rest := append([]byte(nil), data[consumed:]...)
	f.buf.Reset()
	f.buf.Write(rest)
	return len(p), nil
}
