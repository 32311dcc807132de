package runstore

import (
	"fmt"
	"path/filepath"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/train"
)

// Open loads the finished run in dir on its base model m, with the setup,
// head and options run.json records: to serve it or to teach with it
// (train.Distill) without the task's examples. Its Task carries only the
// task's name and labels. m must be the model the run was trained on.
func Open(dir string, m *peft.Model) (*Run, error) {
	rf, err := readRunFile(dir)
	if err != nil {
		return nil, fmt.Errorf("no finished run in %s: %w", dir, err)
	}
	wh, err := weightsHash(m)
	if err != nil {
		return nil, err
	}
	if wh != rf.Config.Model.WeightsSHA256 {
		return nil, fmt.Errorf("run %s was trained on model %s (%s), not on %s: load that model", dir, rf.Config.Model.Name, rf.Config.Model.Dir, m.Name())
	}
	s, err := peft.UnmarshalSetup(rf.Config.Setup)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", dir, err)
	}
	t, err := peft.LoadTuned(m, s, rf.Config.Head, rf.Config.Seed, dir)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", dir, err)
	}
	o := rf.Config.Options
	head := rf.Config.Head
	opt := train.Options{Steps: o.Steps, BatchSize: o.BatchSize, LearningRate: o.LearningRate, WarmupFraction: o.WarmupFraction,
		WeightDecay: o.WeightDecay, MaxLen: o.MaxLen, EvalEvery: o.EvalEvery, Seed: rf.Config.Seed, Head: &head}
	task := &data.Task{Name: rf.Config.Task.Name, Labels: rf.Config.Task.Labels, Regression: rf.Config.Task.Regression}
	tr := &train.Run{Tuned: t, Task: task, Curve: rf.Curve, Metrics: nanMap(rf.Metrics), TrainSeconds: rf.TrainSeconds,
		Baseline: train.NaNIfNull(rf.Baseline), Options: opt}
	return &Run{Run: tr, Dir: filepath.Clean(dir), Loaded: true, Config: rf.Config}, nil
}
