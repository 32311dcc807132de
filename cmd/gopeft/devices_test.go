package main

import (
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
)

// --devices is checked before training: a count below one, a batch that
// does not split, and (on the CPU backends) any data parallel run.
func TestFinetuneDevicesBadInput(t *testing.T) {
	ft := func(extra ...string) []string {
		return append([]string{"finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "lora", "--steps", "2"}, extra...)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{ft("--devices", "0"), 2, "--devices 0"},
		{ft("--devices", "2", "--batch", "3"), 1, "make the batch size a multiple of 2"},
	}
	if b, err := peft.Backend(); err == nil && b.Name() != "xla" {
		cases = append(cases, struct {
			args []string
			code int
			want string
		}{ft("--devices", "2", "--batch", "4"), 1, "data parallel needs the XLA backend"})
	}
	for _, c := range cases {
		_, errOut, code := gopeft(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q lacks %q", c.args[len(c.args)-4:], code, c.code, errOut, c.want)
		}
	}
}
