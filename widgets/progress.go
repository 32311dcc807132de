package widgets

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// Progress shows training progress. In a GoNB notebook it renders an HTML
// bar updated in place (a transient display block); Done replaces it with a
// plain, static HTML output, so the final state is what the saved notebook
// keeps. Elsewhere it writes a single-line text bar to stderr, redrawn with
// \r. Redraws are rate-limited (Interval, default 250 ms); the last step and
// Done always draw. Safe for concurrent use.
type Progress struct {
	Total    int
	Title    string
	Interval time.Duration

	mu       sync.Mutex
	out      io.Writer // text mode destination
	notebook bool
	id       string // GoNB display id of the live block
	now      func() time.Time
	start    time.Time
	lastDraw time.Time
	drawn    bool
	step     int
	metrics  map[string]float64
	done     bool
}

// NewProgress starts a progress display for total steps (total <= 0 means
// unknown: no bar or ETA).
func NewProgress(total int, title string) *Progress {
	p := &Progress{
		Total:    total,
		Title:    title,
		Interval: 250 * time.Millisecond,
		out:      os.Stderr,
		notebook: gonbui.IsNotebook,
		now:      time.Now,
	}
	if p.notebook {
		p.id = "gopeft_progress_" + gonbui.UniqueId()
	}
	p.start = p.now()
	return p
}

// Update records that step steps are complete, with the latest metrics
// (copied; nil keeps the previous ones), and redraws if due.
func (p *Progress) Update(step int, metrics map[string]float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.step = step
	if metrics != nil {
		p.metrics = make(map[string]float64, len(metrics))
		for k, v := range metrics {
			p.metrics[k] = v
		}
	}
	now := p.now()
	last := p.Total > 0 && step >= p.Total
	if p.drawn && !last && now.Sub(p.lastDraw) < p.Interval {
		return
	}
	p.lastDraw, p.drawn = now, true
	if p.notebook {
		p.sendLocked(p.id, now)
	} else {
		fmt.Fprint(p.out, "\r"+p.textLocked(now)+"\x1b[K")
	}
}

// Done draws the final state and ends the display. In a notebook the live
// block is cleared and the final bar is emitted as an ordinary HTML output.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	now := p.now()
	if p.notebook {
		gonbui.UpdateHtml(p.id, "")
		p.sendLocked("", now)
		gonbui.Sync()
		return
	}
	fmt.Fprint(p.out, "\r"+p.textLocked(now)+"\x1b[K\n")
}

// sendLocked sends the bar as HTML with a text/plain twin, so front-ends
// without HTML (a terminal running the notebook, nbconvert to text) show
// progress too. An empty id sends an ordinary (not updatable) output.
func (p *Progress) sendLocked(id string, now time.Time) {
	gonbui.SendData(&protocol.DisplayData{
		Data: map[protocol.MIMEType]any{
			protocol.MIMETextHTML:  p.htmlLocked(now),
			protocol.MIMETextPlain: p.textLocked(now),
		},
		DisplayID: id,
	})
}

// HTML returns the current state as static HTML.
func (p *Progress) HTML() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.htmlLocked(p.now())
}

// Text returns the current state as one line of text.
func (p *Progress) Text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.textLocked(p.now())
}

type progressStats struct {
	frac            float64 // -1 when unknown
	elapsed, eta    string
	rate            string
	metrics         []string
	stepText, title string
}

func (p *Progress) statsLocked(now time.Time) progressStats {
	el := now.Sub(p.start)
	st := progressStats{frac: -1, elapsed: fmtDuration(el), eta: "?", title: p.Title}
	if p.Total > 0 {
		st.frac = math.Max(0, math.Min(1, float64(p.step)/float64(p.Total)))
		st.stepText = fmt.Sprintf("%d/%d", p.step, p.Total)
	} else {
		st.stepText = fmt.Sprint(p.step)
	}
	rate := 0.0
	if el > 200*time.Millisecond && p.step > 0 { // sooner, a rate is noise (and the ETA absurd)
		rate = float64(p.step) / el.Seconds()
	}
	switch {
	case rate <= 0:
		st.rate = "– it/s"
	case rate >= 1:
		st.rate = fmt.Sprintf("%.1f it/s", rate)
	default:
		st.rate = fmt.Sprintf("%.1f s/it", 1/rate)
	}
	if p.done || (p.Total > 0 && p.step >= p.Total) {
		st.eta = "0:00"
	} else if p.Total > 0 && rate > 0 {
		st.eta = fmtDuration(time.Duration(float64(p.Total-p.step) / rate * float64(time.Second)))
	}
	keys := make([]string, 0, len(p.metrics))
	for k := range p.metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		st.metrics = append(st.metrics, k+"="+fmtMetric(p.metrics[k]))
	}
	return st
}

func (p *Progress) textLocked(now time.Time) string {
	st := p.statsLocked(now)
	var sb strings.Builder
	if st.title != "" {
		sb.WriteString(st.title + " ")
	}
	if st.frac >= 0 {
		const w = 20
		n := int(st.frac * w)
		sb.WriteString("[" + strings.Repeat("#", n) + strings.Repeat(".", w-n) + "] ")
		fmt.Fprintf(&sb, "%3.0f%% ", st.frac*100)
	}
	fmt.Fprintf(&sb, "%s %s elapsed %s", st.stepText, st.rate, st.elapsed)
	if st.frac >= 0 {
		sb.WriteString(" ETA " + st.eta)
	}
	for _, m := range st.metrics {
		sb.WriteString(" " + m)
	}
	return sb.String()
}

func (p *Progress) htmlLocked(now time.Time) string {
	st := p.statsLocked(now)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<div class="gopeft-progress" style="font-family:%s;font-size:13px;color:%s;margin:4px 0;max-width:640px">`, fontFamily, colText)
	sb.WriteString(`<div style="display:flex;justify-content:space-between;gap:12px;margin-bottom:3px">`)
	state := ""
	if p.done {
		state = " ✓"
		if p.Total > 0 && p.step < p.Total {
			state = " (stopped)"
		}
	}
	fmt.Fprintf(&sb, `<span style="font-weight:600">%s%s</span>`, esc(st.title), esc(state))
	pct := ""
	if st.frac >= 0 {
		pct = fmt.Sprintf(" (%.0f%%)", st.frac*100)
	}
	fmt.Fprintf(&sb, `<span style="font-variant-numeric:tabular-nums">%s%s</span></div>`, esc(st.stepText), pct)
	if st.frac >= 0 {
		col := palette[0]
		if p.done && p.step >= p.Total {
			col = palette[2]
		}
		fmt.Fprintf(&sb, `<div style="background:#e6e6e6;border-radius:4px;height:10px;overflow:hidden"><div style="background:%s;width:%.1f%%;height:10px"></div></div>`, col, st.frac*100)
	}
	fmt.Fprintf(&sb, `<div style="color:%s;margin-top:3px;font-variant-numeric:tabular-nums">elapsed %s · ETA %s · %s`, colMuted, esc(st.elapsed), esc(st.eta), esc(st.rate))
	if len(st.metrics) > 0 {
		sb.WriteString(" · " + esc(strings.Join(st.metrics, "  ")))
	}
	sb.WriteString(`</div></div>`)
	return sb.String()
}

func fmtDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func fmtMetric(v float64) string {
	a := math.Abs(v)
	if a != 0 && (a < 1e-3 || a >= 1e5) {
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.4f", v)
}
