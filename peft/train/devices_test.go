package train

import (
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

// Bad device counts are refused before anything trains, each with its fix.
func TestDevicesBadInput(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(16, 1)
	s := peft.NewSetup("lora", peft.DefaultLoRA())
	cases := []struct {
		opt  Options
		want string
	}{
		{Options{Steps: 1, BatchSize: 4, Devices: -1}, "give 0 or 1"},
		{Options{Steps: 1, BatchSize: 3, Devices: 2}, "multiple of 2"},
	}
	if b, err := peft.Backend(); err == nil && b.Name() != "xla" {
		cases = append(cases, struct {
			opt  Options
			want string
		}{Options{Steps: 1, BatchSize: 4, Devices: 2}, "needs the XLA backend"})
	}
	for _, c := range cases {
		_, err := Finetune(m, task, s, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Devices %d, batch %d: got %v, want an error saying %q", c.opt.Devices, c.opt.BatchSize, err, c.want)
		}
	}
	for _, n := range []int{0, 1} {
		if got := (Options{Devices: n}).DataParallelDevices(); got != 0 {
			t.Errorf("Devices %d gives the Stepper %d devices: one device keeps the plain graph", n, got)
		}
	}
}
