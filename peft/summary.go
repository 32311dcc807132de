package peft

import (
	"fmt"
	"strings"

	"github.com/gopeft/gopeft/peft/encoder"
)

// SummaryRow is one line of Summary, like a row of AdapterHub's
// adapter_summary: parameters counted from the live variables, %Param
// relative to the base model (encoder and pooler, not the MLM head).
type SummaryRow struct {
	Name         string
	Architecture string // the method's Kind (bottleneck, lora, ...), "head", or "" for the full model
	// Params: the adapter's own parameters, plus the base weights its
	// method trains (BitFit, full and partial fine-tuning).
	Params  int
	Percent float64
	Active  bool
	Train   bool
}

// Summary lists every adapter in setup order, then the task head, then a
// "Full model" row (the base model; Train is true when a method trains base
// weights, e.g. BitFit). AdapterHub's summary has no head row; GoPEFT shows
// it because the head trains too.
func Summary(t *Tuned) []SummaryRow {
	c := t.Counts()
	base := float64(max(1, c.Base))
	active := map[string]bool{}
	for _, n := range t.Setup.ActiveNames() {
		active[n] = true
	}
	var rows []SummaryRow
	for _, a := range t.Setup.Adapters {
		n, ok := c.PerAdapter[a.Name]
		if !ok {
			// NewTuned creates only the active adapters' variables; an
			// inactive one reports its closed-form size.
			n = a.Method.NumParams(t.Model.Config)
		}
		n += t.baseTrainedBy(a)
		rows = append(rows, SummaryRow{
			Name: a.Name, Architecture: a.Method.Kind(), Params: n, Percent: 100 * float64(n) / base,
			Active: active[a.Name], Train: t.Setup.Trains(a.Name),
		})
	}
	head := "classification head"
	if t.Head.Regression {
		head = "regression head"
	}
	rows = append(rows, SummaryRow{Name: "head", Architecture: head, Params: c.Head, Percent: 100 * float64(c.Head) / base, Active: true, Train: true})
	baseTrains := false
	for v := range t.Ctx.IterVariables() {
		if v.Trainable && t.isBaseParam(v.Scope()) {
			baseTrains = true
			break
		}
	}
	rows = append(rows, SummaryRow{Name: "Full model", Params: c.Base, Percent: 100, Active: true, Train: baseTrains})
	return rows
}

// baseTrainedBy counts the base weights that a's methods train (BitFit,
// full and partial fine-tuning), as they train in t.
func (t *Tuned) baseTrainedBy(a Adapter) int {
	n := 0
	for v := range t.Ctx.IterVariables() {
		if !v.Trainable || !encoder.IsBase(v) {
			continue
		}
		name := encoder.CanonicalName(v)
		for _, l := range leavesOf(a.Method) {
			if bt, ok := l.method.(BaseTrainer); ok && bt.TrainsBase(t.Model.Config, name) {
				n += v.Shape().Size()
				break
			}
		}
	}
	return n
}

func (t *Tuned) isBaseParam(scope string) bool {
	for _, s := range []string{"/embeddings", "/encoder", "/pooler"} {
		if scope == s || strings.HasPrefix(scope, s+"/") {
			return true
		}
	}
	return false
}

// GroupDigits writes 1234567 as 1,234,567.
func GroupDigits(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + GroupDigits(-n)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func flag01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// SummaryTable is Summary as fixed-width text, laid out like AdapterHub's
// adapter_summary, followed by the trainable-parameters line.
func (t *Tuned) SummaryTable() string {
	rows := Summary(t)
	nameW, archW := len("Name"), len("Architecture")
	for _, r := range rows {
		nameW, archW = max(nameW, len(r.Name)), max(archW, len(r.Architecture))
	}
	line := func(name, arch, params, pct, active, train string) string {
		return fmt.Sprintf("%-*s  %-*s  %13s  %8s  %6s  %5s", nameW, name, archW, arch, params, pct, active, train)
	}
	header := line("Name", "Architecture", "#Param", "%Param", "Active", "Train")
	width := len(header)
	var b strings.Builder
	b.WriteString(strings.Repeat("=", width) + "\n" + header + "\n" + strings.Repeat("-", width) + "\n")
	for i, r := range rows {
		if i == len(rows)-1 {
			b.WriteString(strings.Repeat("-", width) + "\n")
			b.WriteString(line(r.Name, "", GroupDigits(r.Params), fmt.Sprintf("%.3f", r.Percent), "", flag01(r.Train)) + "\n")
			continue
		}
		b.WriteString(line(r.Name, r.Architecture, GroupDigits(r.Params), fmt.Sprintf("%.3f", r.Percent), flag01(r.Active), flag01(r.Train)) + "\n")
	}
	b.WriteString(strings.Repeat("=", width) + "\n")
	b.WriteString(t.TrainableLine() + "\n")
	return b.String()
}
