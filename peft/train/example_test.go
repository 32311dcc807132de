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

// The recipe of transfer learning on full fine-tuning: the embeddings and
// layer 0 frozen, the others thawing top down every 10 steps, lower layers
// at smaller rates, a faster head, clipping and token masking.
func ExampleRecipe() {
	model, err := trainingtest.NewSentimentModel()
	if err != nil {
		panic(err)
	}
	recipe := train.Recipe{
		FreezeLayers: 1, UnfreezeEvery: 10, LayerDecay: 0.8, HeadLR: 5e-3,
		Schedule: train.ScheduleCosine, ClipNorm: 1, Augment: train.Augment{Mask: 0.1},
	}
	run, err := train.Finetune(model, trainingtest.SentimentTask(200, 1), peft.NewSetup("full", &peft.FullFinetune{}),
		train.Options{Steps: 40, BatchSize: 16, LearningRate: 1e-3, Seed: 1, Recipe: recipe})
	if err != nil {
		panic(err)
	}
	rates := recipe.Rates(run.Tuned, 1e-3, 39)
	fmt.Printf("layer 1 %.1e, head %.1e, layer 0 trains: %v\n", rates["/encoder/layer/1/output/dense/weight"],
		rates["/head/out_proj/weight"], rates["/encoder/layer/0/output/dense/weight"] > 0)
	// Output: layer 1 1.0e-03, head 5.0e-03, layer 0 trains: false
}
