# Source of notebooks/09-bring-your-own-model.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 09 · Bring your own model: a Hugging Face directory in, a Hugging Face peft adapter out

**What it teaches.** How GoPEFT meets the Hugging Face ecosystem at both ends:

1. **in**: a model directory as `save_pretrained` writes it — `config.json`, `model.safetensors`, a tokenizer — loads
   with `peft.LoadModel(dir)`, no conversion step. We look inside it first: the config, the safetensors header, how
   Hugging Face's tensor names map onto GoPEFT's;
2. **train**: LoRA (Hu et al. 2021) on real data (SpamAssassin's spam vs ham);
3. **out**: the adapter saved in **Hugging Face peft's format** (`adapter_config.json` + `adapter_model.safetensors`,
   what `PeftModel.save_pretrained` writes) with `peft/hfpeft`, reloaded into a fresh model, giving identical
   predictions — and the same directory loads in Python with `PeftModel.from_pretrained`.

No model hub is reachable from GoPEFT's machines, so the "model you bring" here is the one GoPEFT ships,
`models/gopeft-small`: a 4-layer BERT that GoPEFT pretrained itself and wrote as an ordinary Hugging Face directory
(it loads in transformers as a `BertForMaskedLM`). Point the same code at your own directory.

**Time.** 22 s top to bottom on 2 CPU cores (`blas` backend, measured 2026-12-01; one training, no cell over 10 s);
27 s on an H200 through the GPU kernel, measured from an empty run store while three other notebooks shared the GPU (so at most that alone; most of it is XLA compiling each cell's graphs, which the executable cache skips when a cell runs again). `GOPEFT_QUICK=1` trains a quarter as long (CI).
"""),
("go", r"""
import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/hfpeft"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/safetensors"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets"
	"github.com/gopeft/gopeft/widgets/notebook"
)

// must stops the cell with the error; the kernel reports it as the cell's error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// must2 is must for two results.
func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// modelDir is the Hugging Face model directory this notebook brings: replace it with the path of yours.
func modelDir() string { return must(notebook.ShippedModelDir()) }

// spam is SpamAssassin's spam vs ham, split 80/10/10 with a fixed seed.
func spam() *data.Task { return must(data.Load("spam", data.Options{Seed: 1})) }

// options: 240 steps; quick mode trains 64.
func options() train.Options {
	o := train.Options{Steps: 240, BatchSize: 16, MaxLen: 32, LearningRate: 2e-3, EvalEvery: 40, EvalExamples: 256, Seed: 1}
	if notebook.Quick() {
		o.Steps, o.EvalEvery, o.EvalExamples = 64, 16, 96
	}
	return o
}

// listFiles prints the files under dir, subdirectories included, with their sizes.
func listFiles(dir string) {
	must(0, filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info := must(e.Info())
		fmt.Printf("  %-28s %10s bytes\n", must(filepath.Rel(dir, path)), peft.GroupDigits(int(info.Size())))
		return nil
	}))
}

%%
fmt.Println(modelDir())
listFiles(modelDir())
fmt.Printf("GoPEFT %s, backend %s, seed %d, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
("md", r"""
## What is in a Hugging Face model directory

* `config.json` says which architecture and what shape. GoPEFT's `peft/hf` reads the **BERT family**: `model_type`
  `bert`, `roberta` (and aliases such as `xlm-roberta`, `camembert`) and `distilbert`, normalised into one `hf.Config`
  (RoBERTa's position offset, DistilBERT's missing token types and renamed modules); other families are refused with
  an error that says so.
* `model.safetensors` holds the weights: an 8-byte header length, a JSON header naming every tensor's dtype, shape and
  byte range, then the raw data. `peft/safetensors` reads the header alone without loading the data.
* the tokenizer: `tokenizer.json` (what `tokenizers` saves), else `vocab.txt` (WordPiece) or `vocab.json` +
  `merges.txt` (BPE, RoBERTa).
"""),
("go", r"""
%%
cfg := must(hf.ReadConfig(filepath.Join(modelDir(), "config.json")))
fmt.Printf("model_type %q (family %s), architectures %v\n", cfg.ModelType, cfg.Family(), cfg.Architectures)
fmt.Printf("%d layers, hidden %d, %d heads of %d, FFN %d, %s; vocabulary %d, %d positions, %d token types\n",
	cfg.NumLayers, cfg.HiddenSize, cfg.NumHeads, cfg.HeadDim(), cfg.IntermediateSize, cfg.HiddenAct, cfg.VocabSize, cfg.MaxPositions, cfg.TypeVocabSize)

header := must(safetensors.ReadHeader(filepath.Join(modelDir(), "model.safetensors")))
params := 0
var rows [][]string
for i, name := range header.Names {
	info := header.Tensors[name]
	n := 1
	for _, d := range info.Shape {
		n *= d
	}
	params += n
	canonical, ok := hf.CanonicalName(cfg.ModelType, name)
	if !ok {
		canonical = "(not part of the encoder)"
	}
	if i < 6 || strings.Contains(name, "layer.0.attention.self.query") || !ok {
		rows = append(rows, []string{name, info.DType, fmt.Sprint(info.Shape), canonical})
	}
}
widgets.Display(widgets.Table([]string{"tensor in model.safetensors", "dtype", "shape", "GoPEFT's canonical name"}, rows,
	widgets.TableOptions{Caption: fmt.Sprintf("%d of %d tensors (%s values); header metadata %v", len(rows), len(header.Names), peft.GroupDigits(params), header.Metadata)}))
"""),
("md", r"""
## Load it as you would load your own

`peft.LoadModel(dir)` reads the config, maps every encoder tensor onto GoPEFT's canonical (BERT, no prefix) names,
checks each shape against the config, and loads the tokenizer. What the checkpoint holds beyond the encoder (here the
masked-LM head) is kept aside and reported, not silently dropped: `hf.LoadDir` is the same step without building a
model.
"""),
("go", r"""
%%
md := must(hf.LoadDir(modelDir()))
fmt.Printf("hf.LoadDir: %d encoder tensors, %d others, tokenizer %s\n", len(md.Weights), len(md.Extra), filepath.Base(md.TokenizerPath))
for _, note := range md.Notes {
	fmt.Println("  note:", note)
}
model := must(peft.LoadModel(modelDir()))
fmt.Println(model.Describe())
text := "Congratulations! You have WON a free cruise, reply now."
ids, _, _ := model.Tokenizer.Encode(text, 32)
fmt.Printf("tokens: %v\nids:    %v\n", model.Tokenizer.Tokenize(text), ids)
"""),
("md", r"""
## Fine-tune it with LoRA

HF peft's default LoRA for BERT — rank 8, α = 8, on the query and value projections — and AdapterHub's two-layer
classification head, 240 AdamW steps on each email's first 32 tokens (as in the quickstart). The run is kept in the
run directory, so re-running loads it.
"""),
("go", r"""
// loraRun fine-tunes LoRA on the brought model, or loads the finished run.
func loraRun() *runstore.Run {
	dir := "byom-lora"
	if notebook.Quick() {
		dir += "-quick"
	}
	model := must(peft.LoadModel(modelDir()))
	return must(notebook.Finetune(notebook.RunsDir(dir), model, spam(), peft.NewSetup("lora", peft.DefaultLoRA()), options()))
}

%%
run := loraRun()
fmt.Println(run.Tuned.TrainableLine())
fmt.Printf("test accuracy %.3f, macro-F1 %.3f (majority class %.3f), trained in %.0f s\n",
	run.Metrics["test_accuracy"], run.Metrics["test_macro_f1"], run.Baseline, run.TrainSeconds)
"""),
("md", r"""
## Save in Hugging Face peft's format

`hfpeft.SaveLoRA` writes what `PeftModel.save_pretrained` writes: `adapter_config.json` (a `LoraConfig`) and
`adapter_model.safetensors` with HF's key names, `base_model.model.<module>.lora_A.weight` [r × in] and `.lora_B.weight`
[out × r]. Only the LoRA matrices go there: GoPEFT's task head is AdapterHub's, not transformers' `classifier`, so the
adapter is saved for the bare encoder (`task_type` `FEATURE_EXTRACTION`) and the head goes beside it in GoPEFT's own
format (`peft.SaveHead`, in `head/`).
"""),
("go", r"""
// exportDir is where the adapter is written in HF peft's format.
func exportDir() string {
	dir := "byom-export"
	if notebook.Quick() {
		dir += "-quick"
	}
	return notebook.RunsDir(dir)
}

%%
run := loraRun()
must(0, hfpeft.SaveLoRA(run.Tuned, "lora", exportDir()))
must(0, peft.SaveHead(run.Tuned, filepath.Join(exportDir(), "head"), run.Task.Labels))
fmt.Println(exportDir())
listFiles(exportDir())
raw := must(os.ReadFile(filepath.Join(exportDir(), hfpeft.AdapterConfigFile)))
var cfg map[string]any
must(0, json.Unmarshal(raw, &cfg))
pretty := must(json.MarshalIndent(cfg, "", "  "))
fmt.Printf("\n%s:\n%s\n", hfpeft.AdapterConfigFile, pretty)
header := must(safetensors.ReadHeader(filepath.Join(exportDir(), hfpeft.AdapterWeightsFile)))
fmt.Printf("\n%s: %d tensors, e.g.\n", hfpeft.AdapterWeightsFile, len(header.Names))
for _, name := range slices.Sorted(slices.Values(header.Names))[:4] {
	fmt.Printf("  %-62s %s %v\n", name, header.Tensors[name].DType, header.Tensors[name].Shape)
}
"""),
("md", r"""
## Reload into a fresh model: the same predictions

A new `peft.LoadModel` of the same directory, `hfpeft.LoadLoRA` (which reads the config and matrices with
`hfpeft.ReadLoRA` and builds a LoRA setup from them), then the head. The reloaded model must compute exactly what the
trained one does: same logits (float32 written and read back bit for bit), same predictions.
"""),
("go", r"""
// reloadCheck reads the exported adapter and head into a fresh model and compares it with the trained run:
// the largest logit difference on 64 test emails, how many of the test predictions differ, and the reloaded
// model's test accuracy.
func reloadCheck(run *runstore.Run) (maxDiff float64, differ, n int, accuracy float64) {
	fresh := must(peft.LoadModel(modelDir()))
	back := must(hfpeft.LoadLoRA(fresh, exportDir(), "lora", run.Tuned.Head))
	back = must(back.LoadHead(filepath.Join(exportDir(), "head")))
	reloaded := run.With(back)
	task := spam()
	texts := make([]string, len(task.Test))
	for i, e := range task.Test {
		texts[i] = e.Text
	}
	batch := peft.BatchFrom(fresh.Tokenizer.EncodeBatch(texts[:64], 32))
	a := must(tensors.CopyFlatData[float32](must(run.Tuned.Logits(batch))))
	b := must(tensors.CopyFlatData[float32](must(back.Logits(batch))))
	for i := range a {
		maxDiff = math.Max(maxDiff, math.Abs(float64(a[i]-b[i])))
	}
	p1, p2 := must(run.Predict(texts)), must(reloaded.Predict(texts))
	for i := range p1 {
		if p1[i] != p2[i] {
			differ++
		}
	}
	return maxDiff, differ, len(texts), must(reloaded.Evaluate(task.Test))["accuracy"]
}

%%
run := loraRun()
l, weights := must2(hfpeft.ReadLoRA(exportDir(), run.Tuned.Model.Config))
fmt.Printf("ReadLoRA: r %d, lora_alpha %g, targets %v, %d matrices\n", l.R, l.Alpha, l.TargetModules, len(weights))
maxDiff, differ, n, acc := reloadCheck(run)
fmt.Printf("logits of 64 test emails: largest |trained - reloaded| = %g\n", maxDiff)
fmt.Printf("predictions on all %d test emails: %d differ; test accuracy %.3f trained, %.3f reloaded\n", n, differ, run.Metrics["test_accuracy"], acc)
"""),
("md", r"""
## The same directory in Python

On a machine with PyTorch, transformers and Hugging Face peft, the exported adapter loads onto the same model
directory with the usual two calls (GoPEFT's machines for this notebook have no transformers, so this cell is shown,
not run):

```python
from transformers import AutoTokenizer, BertModel
from peft import PeftModel

base = BertModel.from_pretrained("models/gopeft-small")        # the directory you brought
model = PeftModel.from_pretrained(base, "<exportDir() above>")  # adapter_config.json + adapter_model.safetensors
tok = AutoTokenizer.from_pretrained("models/gopeft-small")
hidden = model(**tok(["Congratulations! You have WON a free cruise"], return_tensors="pt")).last_hidden_state
```

`hidden` is the encoder output GoPEFT's head reads (position 0, the `[CLS]` token). The head is GoPEFT's, so
Python gets the adapted encoder, not the classifier; to classify there, train transformers' own head on top or port
`head/head.safetensors` (two dense layers). GoPEFT checks both directions against the real libraries in its test suite:
`scripts/hf/peft_lora_reference.py` writes adapters with HF peft for GoPEFT to read, and with `--check DIR` loads one
that `hfpeft.SaveLoRA` wrote and compares the hidden states (tolerance 10⁻⁴); `scripts/hf/load_check.py` loads a
GoPEFT-written model directory in transformers.
"""),
("md", r"""
## What this run shows
"""),
("go", r"""
%%
run := loraRun()
files := []string{}
for _, e := range must(os.ReadDir(exportDir())) {
	files = append(files, e.Name())
}
c := run.Tuned.Counts()
fmt.Printf("Loaded %s (%s, %d layers, %s encoder parameters) from a plain Hugging Face directory with peft.LoadModel.\n",
	filepath.Base(modelDir()), run.Tuned.Model.Config.ModelType, run.Tuned.Model.Config.NumLayers, peft.GroupDigits(run.Tuned.Counts().Base))
fmt.Printf("LoRA r=8 on query and value trained %s parameters (%.2f%% of the model, head included) to test accuracy %.3f (majority class %.3f).\n",
	peft.GroupDigits(c.Trainable), 100*float64(c.Trainable)/float64(c.Total), run.Metrics["test_accuracy"], run.Baseline)
maxDiff, differ, n, acc := reloadCheck(run)
fmt.Printf("Saved in Hugging Face peft's format (%s); reloaded into a fresh model: %d of %d test predictions differ, largest logit difference %g, test accuracy %.3f.\n",
	strings.Join(files, ", "), differ, n, maxDiff, acc)
fmt.Printf("GoPEFT %s, backend %s, seed %d, %d steps, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options().Seed, options().Steps, notebook.Quick())
"""),
]
