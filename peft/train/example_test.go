package train_test

import (
	"fmt"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

// Fine-tune a bottleneck adapter on a small sentiment task ("good" or
// "bad" among filler words), then predict.
func ExampleFinetune() {
	model, err := trainingtest.NewSentimentModel() // notebook.LoadShipped() for the real encoder
	if err != nil {
		panic(err)
	}
	task := trainingtest.SentimentTask(400, 1)
	steps := 0
	run, err := train.Finetune(model, task, peft.NewSetup("pfeiffer", trainingtest.Pfeiffer4()), train.Options{
		Steps: 120, BatchSize: 16, LearningRate: 3e-3, Seed: 1,
		Progress: func(p train.Progress) { steps = p.Step },
	})
	if err != nil {
		panic(err)
	}
	pred, err := run.Predict([]string{"this movie was good", "the plot was bad"})
	if err != nil {
		panic(err)
	}
	fmt.Println(steps, len(run.Curve), run.Metrics["test_accuracy"] > run.Baseline+0.2, pred)
	// Output: 120 120 true [1 0]
}

// The learning rate warms up over the first steps, then decays linearly.
func ExampleLinearSchedule() {
	for _, step := range []int{0, 1, 4, 9} {
		fmt.Printf("%.2f ", train.LinearSchedule(step, 10, 2, 1))
	}
	// Output: 0.50 1.00 0.75 0.12
}
