package runstore

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

// resumeChildEnv makes TestResumeChild train in the run directory it names
// (the child process of TestResumeAfterSIGKILL).
const resumeChildEnv = "GOPEFT_TEST_RESUME_CHILD_DIR"

const killAfterStep = 13

func resumeRun(dir string, progress func(train.Progress)) (*Run, error) {
	m, err := trainingtest.NewSentimentModel()
	if err != nil {
		return nil, err
	}
	task := trainingtest.SentimentTask(120, 3)
	// Head dropout draws from the graph's RNG and the sampler shuffles each
	// epoch (120 examples = 15 steps of 8); the early-stopping state (a
	// patience that never runs out) is checkpointed too, and so are the
	// recipe's augmentation stream and learning-rate multipliers (gradual
	// unfreezing, layer-wise decay).
	opt := train.Options{Steps: 40, BatchSize: 8, LearningRate: 3e-3, Seed: 7, EvalEvery: 10,
		Control: train.Control{Patience: 50, CheckpointEvery: 5}, Progress: progress,
		Recipe: train.Recipe{LayerDecay: 0.9, UnfreezeEvery: 4, ClipNorm: 1, Augment: train.Augment{Mask: 0.1, Swap: 0.1}}}
	return Finetune(dir, m, task, peft.NewSetup("pfeiffer", trainingtest.Pfeiffer4()), opt)
}

// TestResumeChild is the process TestResumeAfterSIGKILL kills: it reports
// each step on stdout and slows down after killAfterStep, so that the kill
// lands mid-run.
func TestResumeChild(t *testing.T) {
	dir := os.Getenv(resumeChildEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestResumeAfterSIGKILL")
	}
	_, err := resumeRun(dir, func(p train.Progress) {
		fmt.Printf("step %d\n", p.Step)
		if p.Step >= killAfterStep {
			time.Sleep(200 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("finished")
}

// A run killed with SIGKILL mid-run resumes from its last checkpoint and
// reaches bitwise the curve and metrics of an uninterrupted run; running
// it once more loads the finished run and trains zero steps.
func TestResumeAfterSIGKILL(t *testing.T) {
	if os.Getenv(resumeChildEnv) != "" {
		t.Skip("this is the child")
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "killed")
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), resumeChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if sc.Text() == fmt.Sprintf("step %d", killAfterStep) {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v (output %q)", err, seen)
	}
	if _, err := os.Stat(filepath.Join(dir, RunFile)); err == nil {
		t.Fatal("the killed run left a finished run.json")
	}
	ckpts, _ := filepath.Glob(filepath.Join(dir, CheckpointDir, "step-*"))
	if len(ckpts) == 0 {
		t.Fatalf("the killed run left no checkpoint in %s", filepath.Join(dir, CheckpointDir))
	}

	var resumedSteps []int
	resumed, err := resumeRun(dir, func(p train.Progress) {
		if !p.Done {
			resumedSteps = append(resumedSteps, p.Step)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	from := resumed.Control.ResumedFrom
	t.Logf("killed after step %d; resumed from %s at step %d, trained %d steps", killAfterStep, filepath.Base(ckpts[0]), from, resumed.Control.StepsTrained)
	if from < 10 || from > killAfterStep || len(resumedSteps) != 40-from || resumedSteps[0] != from+1 {
		t.Fatalf("resumed from step %d and trained steps %v: want the step-10 checkpoint, steps 11..40", from, resumedSteps)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointDir)); !os.IsNotExist(err) {
		t.Errorf("the finished run directory still holds checkpoints (%v)", err)
	}

	whole, err := resumeRun(filepath.Join(tmp, "whole"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resumed.Curve) != len(whole.Curve) {
		t.Fatalf("resumed curve has %d points, uninterrupted %d", len(resumed.Curve), len(whole.Curve))
	}
	for i := range whole.Curve {
		if !samePoint(resumed.Curve[i], whole.Curve[i]) {
			t.Fatalf("step %d: resumed %+v, uninterrupted %+v", i+1, resumed.Curve[i], whole.Curve[i])
		}
	}
	for k, v := range whole.Metrics {
		if resumed.Metrics[k] != v {
			t.Errorf("%s: resumed %v, uninterrupted %v", k, resumed.Metrics[k], v)
		}
	}
	t.Logf("final loss %v in both; %v", whole.Curve[39].Loss, whole.Metrics)

	var again []int
	rerun, err := resumeRun(dir, func(p train.Progress) { again = append(again, p.Step) })
	if err != nil {
		t.Fatal(err)
	}
	if !rerun.Loaded || len(again) != 0 || rerun.Control.StepsTrained != 0 {
		t.Errorf("re-running the finished run: loaded %v, progress %v, %d steps trained; want loaded, 0 steps", rerun.Loaded, again, rerun.Control.StepsTrained)
	}
	if !slices.EqualFunc(rerun.Curve, whole.Curve, samePoint) {
		t.Error("the reloaded curve differs")
	}
}

// Checkpoint settings do not change a run's result, so they stay out of the
// config hash; early stopping does and enters it. Runs without Control keep
// the hash they had before Control existed (the record is omitted).
func TestConfigHashCoversEarlyStoppingOnly(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(40, 1)
	s := peft.NewSetup("lora", peft.DefaultLoRA())
	hash := func(c train.Control) (string, string) {
		opt := train.Options{Steps: 10, Control: c}.Resolved(m, task)
		rc, err := NewConfig(m, task, s, opt)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(rc.Options)
		return rc.Hash, string(js)
	}
	plain, plainJSON := hash(train.Control{})
	if strings.Contains(plainJSON, "control") {
		t.Errorf("options record without early stopping mentions control: %s", plainJSON)
	}
	if h, _ := hash(train.Control{CheckpointDir: "elsewhere", CheckpointEvery: 3, Key: "k"}); h != plain {
		t.Error("checkpoint settings changed the config hash")
	}
	if h, _ := hash(train.Control{Patience: 2}); h == plain {
		t.Error("early stopping did not change the config hash")
	}
	if h, _ := hash(train.Control{StopAt: 5}); h == plain {
		t.Error("StopAt did not change the config hash")
	}
}
