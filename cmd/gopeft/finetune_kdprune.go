package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
)

// finetune's distillation flags: --distill-from RUNDIR makes the model a
// student of that run.
type kdFlags struct {
	from, layers       *string
	temperature, alpha *float64
}

func distillFlags(fs *flag.FlagSet) kdFlags {
	return kdFlags{
		from:        fs.String("distill-from", "", "teacher run directory (finetune --save): train a student of it, made from --model's layers (--student-layers)"),
		layers:      fs.String("student-layers", "", "layers of --model (or of the teacher run) the student copies, e.g. 0,2 (with --distill-from the default is every other layer, as DistilBERT; without, the same student trains with no teacher)"),
		temperature: fs.Float64("temperature", train.DefaultTemperature, "distillation temperature T"),
		alpha:       fs.Float64("alpha", train.DefaultAlpha, "weight of the teacher's soft targets (0: labels only, 1: teacher only)"),
	}
}

// student returns the model to train and the distillation options: with
// --distill-from, the student made from the teacher run (trained on m) and
// that teacher; without, m's layers --student-layers (the same student
// trained without a teacher) or m itself.
func (k kdFlags) student(m *peft.Model) (*peft.Model, *train.Distill, error) {
	layers, err := k.studentLayers(m)
	if err != nil {
		return nil, nil, err
	}
	if *k.from == "" {
		if *k.layers == "" {
			return m, nil, nil
		}
		s, err := m.Student(layers)
		if err != nil {
			return nil, nil, fmt.Errorf("--student-layers: %w", err)
		}
		return s, nil, nil
	}
	d := &train.Distill{Temperature: *k.temperature, Alpha: *k.alpha}
	if *k.alpha == 0 {
		d.Alpha = -1 // Distill's zero means the default; the flag's 0 means labels only
	}
	if err := d.Loss().Validate(); err != nil {
		return nil, nil, fmt.Errorf("--temperature/--alpha: %w", err)
	}
	teacher, err := runstore.Open(*k.from, m)
	if err != nil {
		return nil, nil, fmt.Errorf("--distill-from: %w (give --model the teacher's model)", err)
	}
	s, err := teacher.Tuned.Student(layers)
	if err != nil {
		return nil, nil, fmt.Errorf("--student-layers: %w", err)
	}
	d.Teacher = teacher.Run
	return s, d, nil
}

func (k kdFlags) studentLayers(m *peft.Model) ([]int, error) {
	if *k.layers == "" {
		return peft.SpreadLayers(m.Config.NumLayers, max(1, m.Config.NumLayers/2)), nil
	}
	var layers []int
	for _, f := range strings.Split(*k.layers, ",") {
		l, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--student-layers %q: give teacher layer numbers separated by commas, such as 0,2", *k.layers)
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// finetune's pruning flags.
type pruneFlagSet struct {
	sparsity    *float64
	granularity *string
	every       *int
}

func pruneFlags(fs *flag.FlagSet) pruneFlagSet {
	return pruneFlagSet{
		sparsity:    fs.Float64("prune-sparsity", 0, "prune this fraction of the encoder's linear weights by magnitude during training (Zhu & Gupta's cubic schedule), e.g. 0.7"),
		granularity: fs.String("prune-granularity", string(peft.PruneGlobal), "global (one threshold) or layer (each weight matrix to the same sparsity)"),
		every:       fs.Int("prune-every", 0, "steps between mask updates (default steps/20)"),
	}
}

func (p pruneFlagSet) options(steps int) (*train.Pruning, error) {
	if *p.sparsity == 0 {
		return nil, nil
	}
	pr := &train.Pruning{Sparsity: *p.sparsity, Granularity: peft.PruneGranularity(*p.granularity), Every: *p.every}
	if err := pr.Validate(steps); err != nil {
		return nil, fmt.Errorf("--prune-*: %w", err)
	}
	return pr, nil
}
