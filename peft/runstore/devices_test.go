package runstore

import (
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

// Data parallel steps compute the same updates up to rounding, so the device
// count stays out of a run's identity: a run trained on two GPUs is found
// again on one.
func TestDevicesDoNotChangeTheRunHash(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(40, 1)
	s := peft.NewSetup("lora", peft.DefaultLoRA())
	config := func(devices int) Config {
		rc, err := NewConfig(m, task, s, train.Options{Steps: 10, BatchSize: 8, Devices: devices}.Resolved(m, task))
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	one := config(0)
	for _, n := range []int{1, 2, 8} {
		rc := config(n)
		if rc.Hash != one.Hash {
			t.Errorf("Devices %d changed the config hash", n)
		}
		if js := string(mustJSON(t, rc)); strings.Contains(js, "devices") {
			t.Errorf("Devices %d is written into the config: %s", n, js)
		}
	}
	if got := (train.Options{Devices: 1}).DataParallelDevices(); got != 0 {
		t.Errorf("run.json records %d devices for one", got)
	}
	if got := (train.Options{Devices: 2}).DataParallelDevices(); got != 2 {
		t.Errorf("run.json records %d devices for two", got)
	}
}
