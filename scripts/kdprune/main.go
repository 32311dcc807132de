// Command kdprune prunes a saved spam run in one shot: structured (heads,
// FFN units; weight-norm and gradient importance) and magnitude (global,
// per matrix), printing accuracy before and after. scripts/kdprune/sweep.sh
// runs it; go run ./scripts/kdprune RUNDIR.
package main

import (
	"fmt"
	"os"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/runstore"
)

func main() {
	m, err := peft.LoadModel("models/gopeft-small")
	must(err)
	r, err := runstore.Open(os.Args[1], m)
	must(err)
	task, err := data.Load("spam", data.Options{Seed: 1})
	must(err)
	r.Task = task
	fmt.Printf("run %s: test acc %.4f, %s\n", os.Args[1], r.Metrics["test_accuracy"], r.Tuned.TrainableLine())
	hs, us, err := r.GateImportance(512)
	must(err)
	for _, imp := range []string{"weight", "gradient"} {
		for _, sp := range []peft.StructuredPrune{{Heads: 2}, {Heads: 4}, {Heads: 8}, {FFNFraction: 0.25}, {FFNFraction: 0.5}, {Heads: 4, FFNFraction: 0.5}} {
			if imp == "gradient" {
				sp.HeadScores, sp.FFNScores = hs, us
			}
			_, rep, err := r.PruneStructured(sp)
			must(err)
			fmt.Printf("structured (%s) heads %d ffn %.2f: removed %v, %d params zeroed, %s; acc %.4f -> %.4f\n",
				imp, sp.Heads, sp.FFNFraction, rep.Structured.Heads, rep.Structured.ParamsRemoved, rep.Sparsity, rep.AccuracyBefore, rep.AccuracyAfter)
		}
	}
	for _, s := range []float64{0.5, 0.7, 0.9} {
		for _, g := range []peft.PruneGranularity{peft.PruneGlobal, peft.PruneLayer} {
			_, rep, err := r.PruneMagnitude(s, g, nil)
			must(err)
			fmt.Printf("one-shot magnitude %.1f %s: %s; acc %.4f -> %.4f\n", s, g, rep.Sparsity, rep.AccuracyBefore, rep.AccuracyAfter)
		}
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
