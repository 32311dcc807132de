package runstore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/train"
)

// extrasRecord identifies the distillation and pruning options of a run.
// A teacher is identified by every variable of its Tuned (base weights,
// adapters, head, masks), so a retrained teacher retrains its students.
func extrasRecord(opt train.Options) (distill, prune string, err error) {
	if d := opt.Distill; d != nil {
		if d.Teacher == nil || d.Teacher.Tuned == nil {
			return "", "", fmt.Errorf("distillation needs a teacher: set Distill.Teacher to a finished run")
		}
		l := d.Loss()
		h, err := tunedHash(d.Teacher)
		if err != nil {
			return "", "", err
		}
		distill = fmt.Sprintf("teacher %s T %g alpha %g", h, l.Temperature, l.Alpha)
	}
	if p := opt.Prune; p != nil {
		b, err := json.Marshal(p.Resolved(opt.Steps))
		if err != nil {
			return "", "", err
		}
		prune = string(b)
	}
	return distill, prune, nil
}

func tunedHash(r *train.Run) (string, error) {
	h := sha256.New()
	type named struct {
		name string
		b    []byte
	}
	var vs []named
	for v := range r.Tuned.Ctx.IterVariables() {
		// Optimizer state is left out: a loaded teacher has none.
		sc := v.Scope() + "/"
		model := encoder.IsBase(v) || strings.HasPrefix(sc, "/head/") || strings.HasPrefix(sc, "/peft/") || strings.HasPrefix(sc, peft.PruneRoot+"/")
		if !model || !v.Shape().DType.IsFloat() {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return "", err
		}
		var b []byte
		if err := val.ConstBytes(func(data []byte) { b = append(b, data...) }); err != nil {
			return "", err
		}
		vs = append(vs, named{v.ScopeAndName() + " " + v.Shape().String(), b})
	}
	slices.SortFunc(vs, func(a, b named) int { return strings.Compare(a.name, b.name) })
	for _, v := range vs {
		fmt.Fprintln(h, v.name)
		h.Write(v.b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
