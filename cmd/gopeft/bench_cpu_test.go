package main

import (
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/widgets/notebook"
)

func TestCPURatios(t *testing.T) {
	results := []cpuResult{
		{Runner: "go", Method: "lora", StepMS: 900},
		{Runner: "blas", Method: "lora", StepMS: 90},
		{Runner: "torch-1t", Method: "lora", StepMS: 100},
		{Runner: "go", Method: "head", StepMS: 400},
	}
	r := cpuRatios(results, []string{"lora", "head"})
	if got := r["lora"]["blas/go"]; got != 0.1 {
		t.Errorf("lora blas/go = %v, want 0.1", got)
	}
	if got := r["lora"]["blas/torch-1t"]; got != 0.9 {
		t.Errorf("lora blas/torch-1t = %v, want 0.9", got)
	}
	if _, ok := r["head"]; ok {
		t.Errorf("head has ratios %v without a blas result", r["head"])
	}
}

func TestParseList(t *testing.T) {
	got, err := parseList(" LoRA,head,lora ", cpuMethods)
	if err != nil || strings.Join(got, ",") != "lora,head" {
		t.Errorf("parseList = %v, %v; want [lora head]", got, err)
	}
	if _, err := parseList("lora,prefix", cpuMethods); err == nil || !strings.Contains(err.Error(), `unknown "prefix"`) {
		t.Errorf("parseList with an unknown method: err = %v", err)
	}
}

// TestTorchScriptSameModel: the PyTorch reference trains exactly as many
// parameters as GoPEFT for every method, so both time the same model.
func TestTorchScriptSameModel(t *testing.T) {
	dir, err := notebook.ShippedModelDir()
	if err != nil {
		t.Skip(err)
	}
	script, why := torchScript("/usr/bin/python3", dir)
	if why != "" {
		t.Skip(why)
	}
	m, err := notebook.LoadShipped()
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range cpuMethods {
		r, err := runTorch("/usr/bin/python3", script, dir, "torch-1t", method, 1, 2, 8, 1)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cpuSetup(method)
		if err != nil {
			t.Fatal(err)
		}
		want := s.NumParams(m.Config) + peft.ClassificationHead(2).NumParams(m.Config.HiddenSize)
		if r.Params != want {
			t.Errorf("%s: the PyTorch script trains %d parameters, GoPEFT %d", method, r.Params, want)
		}
		if r.StepMS <= 0 || r.Loss <= 0 {
			t.Errorf("%s: step %v ms, loss %v: want both > 0", method, r.StepMS, r.Loss)
		}
	}
}
