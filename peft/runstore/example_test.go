package runstore_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
)

// The second call with the same configuration loads the run instead of
// training it again.
func ExampleFinetune() {
	model, err := trainingtest.NewSentimentModel()
	if err != nil {
		panic(err)
	}
	task := trainingtest.SentimentTask(64, 1)
	root, _ := os.MkdirTemp("", "runs")
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "pfeiffer")
	for range 2 {
		run, err := runstore.Finetune(dir, model, task, peft.NewSetup("pfeiffer", peft.Pfeiffer()), train.Options{Steps: 5, Seed: 1})
		if err != nil {
			panic(err)
		}
		fmt.Println(run.Loaded, len(run.Curve))
	}
	// Output:
	// false 5
	// true 5
}
