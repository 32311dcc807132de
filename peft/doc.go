// Package peft is parameter-efficient fine-tuning of BERT-family encoders
// in Go, on GoMLX: the methods of Hugging Face peft and AdapterHub, their
// composition, and adapter files.
//
//	model, _ := peft.LoadModel("models/gopeft-small")         // a Hugging Face directory
//	setup := peft.NewSetup("houlsby", peft.Houlsby())           // config is data
//	setup.Add("lora", peft.DefaultLoRA())
//	tuned, _ := peft.NewTuned(model, setup, peft.ClassificationHead(2), 1)
//	fmt.Println(tuned.TrainableLine()) // trainable params: ... || all params: ...
//	run, _ := train.Finetune(model, task, setup, train.Options{Steps: 240}) // peft/train
//	merged, _ := run.Tuned.MergeLoRA("lora")                  // a new Tuned; run's is unchanged
//
// # A tour
//
// A [Model] is a pretrained encoder: config, tokenizer and weights as GoMLX
// variables under their Hugging Face names (LoadModel, NewModel).
//
// A [Method] is one PEFT method's configuration, a plain struct with the
// paper's defaults, in its own file with its forward pass and
// initialisation: [Bottleneck] (Pfeiffer, Houlsby, ParallelAdapter), [LoRA],
// [IA3], [BitFit], [LNTuning], [PrefixTuning], [PromptTuning], and unions of
// methods ([ConfigUnion]; [MAM] is prefix tuning with a parallel adapter);
// the baselines they are judged against are methods too: [FullFinetune],
// [PartialFinetune] (top layers, embeddings, LayerNorms, biases) and
// [HeadOnly], combinable with adapters in one setup.
// [Preset] gives them by name. A method takes part through the encoder's
// hook points (peft/encoder) by implementing only the hooks it needs, and
// answers optional questions by implementing capability interfaces
// ([BaseTrainer], [ActivationSizer], placements, masks), so no code
// elsewhere switches on method types.
//
// A [Setup] names adapters, says which are active and how they compose
// ([Stack], [Fuse], [Parallel], [Average], [BatchSplit], AdapterHub's
// blocks), which train, and what [AdapterDrop] removes. It marshals to JSON
// (MarshalSetup).
//
// A [Tuned] is a model with a setup and a task [Head]: its own copy of the
// weights, the adapters' variables, and which of them train. [Tuned.Logits]
// and [Tuned.Hidden] run it; [Tuned.NewStepper] trains it one step at a
// time (peft/train drives the steps). A trained Tuned never changes: merge,
// unmerge, pruning, prefix flattening and loading adapters or heads return a
// new Tuned with a new [Tuned.Version], which compiled graphs are keyed on.
//
// Adapter files follow AdapterHub's layout ([SaveAdapter],
// [Tuned.LoadAdapter]); [SaveTuned] and [LoadTuned] keep everything a Tuned
// adds to its model; Hugging Face peft's LoRA files are peft/hfpeft's.
//
// Beside this package: peft/train (the loop, metrics, pretraining),
// peft/runstore (finished runs on disk), peft/estimate (memory before
// training), widgets/notebook (what notebook cells use, with widgets),
// peft/hfpeft, and the model code underneath: peft/encoder, peft/hf,
// peft/tokenizer, peft/data, peft/safetensors, peft/backend, peft/fastgrad.
package peft

// Version is GoPEFT's release, reported by the CLI, the kernel and notebooks.
const Version = "0.2.0"
