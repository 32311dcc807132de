// Package hfpeft reads and writes Hugging Face peft's LoRA adapter
// directories (PeftModel.save_pretrained), so adapters move between GoPEFT
// and PyTorch:
//
//	if err := hfpeft.SaveLoRA(tuned, "lora", "out/lora"); err != nil { ... }
//	// python: PeftModel.from_pretrained(BertModel.from_pretrained(...), "out/lora")
//	back, err := hfpeft.LoadLoRA(model, "out/lora", "lora", peft.ClassificationHead(2))
package hfpeft

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/safetensors"
)

// Hugging Face peft's LoRA directory layout (PeftModel.save_pretrained):
// adapter_config.json and adapter_model.safetensors with keys
// base_model.model.<module>.lora_A.weight [r, in] and .lora_B.weight
// [out, r]. <module> is the path inside the wrapped transformers model:
// encoder.layer.N.attention.self.query for a BertModel, with a "bert."
// ("roberta.", "distilbert.") prefix for the *ForSequenceClassification
// classes. GoPEFT writes the bare-model form (task_type FEATURE_EXTRACTION,
// since its task head is not HF's classifier) and reads both.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// hfLoRAConfig is the part of peft's LoraConfig GoPEFT reads and writes.
type hfLoRAConfig struct {
	PeftType          string         `json:"peft_type"`
	TaskType          string         `json:"task_type"`
	BaseModel         string         `json:"base_model_name_or_path"`
	R                 int            `json:"r"`
	LoRAAlpha         float64        `json:"lora_alpha"`
	TargetModules     any            `json:"target_modules"` // list of names, or one regex (full match)
	LoRADropout       float64        `json:"lora_dropout"`
	Bias              string         `json:"bias"`
	FanInFanOut       bool           `json:"fan_in_fan_out"`
	InferenceMode     bool           `json:"inference_mode"`
	InitLoRAWeights   any            `json:"init_lora_weights"`
	UseRSLoRA         bool           `json:"use_rslora"`
	UseDoRA           bool           `json:"use_dora"`
	ModulesToSave     []string       `json:"modules_to_save"`
	LayersToTransform []int          `json:"layers_to_transform"`
	LayersPattern     any            `json:"layers_pattern"`
	RankPattern       map[string]int `json:"rank_pattern"`
	AlphaPattern      map[string]any `json:"alpha_pattern"`
}

// hfModulePath is a site's module path in a bare transformers model.
func modulePath(cfg hf.Config, layer int, s encoder.Site) string {
	canonical := s.WeightName(layer)
	name := strings.TrimSuffix(hf.HFName(cfg.ModelType, canonical), ".weight")
	_, rest, _ := strings.Cut(name, ".") // drop bert./roberta./distilbert.
	return rest
}

// hfTargetModules is target_modules for peft: short module names when they
// select exactly the adapted modules, else one full-match regex (BERT's
// "output.dense" would also match attention.output.dense by suffix, and
// layers_to_transform needs a layers_pattern).
func targetModules(cfg hf.Config, l *peft.LoRA, sites []encoder.Site) any {
	short := make([]string, len(sites))
	for i, s := range sites {
		p := modulePath(cfg, 0, s)
		short[i] = p[strings.Index(p, ".0.")+3:]
		if cfg.Family() == hf.DistilBERT {
			short[i] = short[i][strings.LastIndexByte(short[i], '.')+1:]
		}
	}
	ambiguous := cfg.Family() != hf.DistilBERT && slices.Contains(sites, encoder.FFNOut) && !slices.Contains(sites, encoder.AttnOut)
	if l.LayersToTransform == nil && !ambiguous {
		return short
	}
	layers := `\d+`
	if l.LayersToTransform != nil {
		ls := make([]string, len(l.LayersToTransform))
		for i, n := range l.LayersToTransform {
			ls[i] = strconv.Itoa(n)
		}
		layers = "(?:" + strings.Join(ls, "|") + ")"
	}
	alts := make([]string, len(short))
	for i, s := range short {
		alts[i] = regexp.QuoteMeta(s)
	}
	return `.*\.layer\.` + layers + `\.(?:` + strings.Join(alts, "|") + `)`
}

// SaveLoRA writes the named LoRA adapter of t as a Hugging Face peft
// directory that PeftModel.from_pretrained loads onto the bare transformers
// model (BertModel, RobertaModel, DistilBertModel). Files are written
// atomically. A merged adapter must be unmerged first.
func SaveLoRA(t *peft.Tuned, adapter, dir string) error {
	l, err := peft.LoRAOf(t, adapter)
	if err != nil {
		return err
	}
	if t.IsMerged(adapter) {
		return fmt.Errorf("LoRA adapter %q is merged into the base weights: call UnmergeLoRA before SaveLoRA", adapter)
	}
	cfg := t.Model.Config
	sites, err := l.Sites()
	if err != nil {
		return err
	}
	st := map[string]safetensors.Tensor{}
	for layer := 0; layer < cfg.NumLayers; layer++ {
		if !l.InLayer(layer) {
			continue
		}
		for _, s := range sites {
			scope := peft.AdapterScope(adapter) + "/" + peft.LoRAScope(layer, s)
			for _, ab := range []string{"A", "B"} {
				v, err := value(t, scope+"/lora_"+ab, "weight")
				if err != nil {
					return fmt.Errorf("saving %q: %w (was the Tuned built with this adapter?)", adapter, err)
				}
				x, err := safetensors.FromGoMLX(v)
				if err != nil {
					return err
				}
				st["base_model.model."+modulePath(cfg, layer, s)+".lora_"+ab+".weight"] = x
			}
		}
	}
	var init any = true
	switch l.InitWeights {
	case "gaussian":
		init = "gaussian"
	case "false":
		init = false
	}
	hc := hfLoRAConfig{
		PeftType: "LORA", TaskType: "FEATURE_EXTRACTION", BaseModel: t.Model.Dir,
		R: l.R, LoRAAlpha: l.Alpha, TargetModules: targetModules(cfg, l, sites), LoRADropout: l.Dropout,
		Bias: "none", InferenceMode: true, InitLoRAWeights: init, UseRSLoRA: l.UseRSLoRA,
		RankPattern: map[string]int{}, AlphaPattern: map[string]any{},
	}
	js, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	meta := map[string]string{"format": "pt"}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), &safetensors.File{Metadata: meta, Tensors: st}); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, AdapterConfigFile), append(js, '\n'), 0o644)
}

// hfLoRAKey matches a LoRA tensor name of any family, with or without the
// base_model.model. and model-class prefixes and an adapter name.
var hfLoRAKey = regexp.MustCompile(`^(?:base_model\.model\.)?(?:(?:bert|roberta|distilbert)\.)?(?:encoder|transformer)\.layer\.(\d+)\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$`)

// ReadLoRA reads a Hugging Face peft LoRA directory for a model with
// config cfg. It returns the LoRA config (sites and layers from the tensors
// present) and the weights keyed by their variable path inside the
// adapter's scope as dotted keys ("layer_0_query.lora_A.weight", see encoder.KeyScope). Tensors other than LoRA
// matrices (e.g. a SEQ_CLS classifier in modules_to_save) are ignored.
func ReadLoRA(dir string, cfg hf.Config) (*peft.LoRA, map[string]*tensors.Tensor, error) {
	raw, err := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		return nil, nil, fmt.Errorf("reading a HF peft adapter: %w", err)
	}
	hc, err := parseLoRAConfig(raw, dir)
	if err != nil {
		return nil, nil, err
	}
	f, err := safetensors.Read(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		return nil, nil, err
	}
	return loraFromFile(hc, f, dir, cfg)
}

// parseLoRAConfig decodes a HF peft adapter_config.json and refuses the
// options GoPEFT's LoRA does not have.
func parseLoRAConfig(raw []byte, dir string) (hfLoRAConfig, error) {
	var hc hfLoRAConfig
	if err := json.Unmarshal(raw, &hc); err != nil {
		return hc, fmt.Errorf("%s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	switch {
	case hc.PeftType != "LORA":
		return hc, fmt.Errorf("%s: peft_type is %q: only LORA adapters load here", dir, hc.PeftType)
	case hc.UseDoRA:
		return hc, fmt.Errorf("%s: use_dora is set: DoRA adapters are not supported", dir)
	case hc.FanInFanOut:
		return hc, fmt.Errorf("%s: fan_in_fan_out is set (GPT-2 Conv1D layout): BERT-family adapters store [r, in] and [out, r]", dir)
	case len(hc.RankPattern) > 0 || len(hc.AlphaPattern) > 0:
		return hc, fmt.Errorf("%s: rank_pattern/alpha_pattern are not supported: GoPEFT's LoRA has one r and alpha", dir)
	case hc.Bias != "" && hc.Bias != "none":
		return hc, fmt.Errorf("%s: bias is %q: only bias \"none\" adapters load", dir, hc.Bias)
	case hc.R <= 0:
		return hc, fmt.Errorf("%s: r is %d: a LoRA rank must be positive", dir, hc.R)
	}
	return hc, nil
}

// loraFromFile maps the LoRA matrices of an adapter_model.safetensors onto
// GoPEFT's LoRA for a model with config cfg.
func loraFromFile(hc hfLoRAConfig, f *safetensors.File, dir string, cfg hf.Config) (*peft.LoRA, map[string]*tensors.Tensor, error) {
	weights := map[string]*tensors.Tensor{}
	layerSet, siteSet := map[int]bool{}, map[encoder.Site]bool{}
	for name, x := range f.Tensors {
		if !strings.Contains(name, "lora_") {
			continue
		}
		mm := hfLoRAKey.FindStringSubmatch(name)
		if mm == nil {
			return nil, nil, fmt.Errorf("%s: tensor %s is not a LoRA matrix of an encoder layer", dir, name)
		}
		layer, _ := strconv.Atoi(mm[1])
		module := mm[2]
		s, ok := peft.SiteByName(module)
		if !ok {
			s, ok = peft.SiteByName(module[strings.LastIndexByte(module, '.')+1:])
		}
		if !ok || layer >= cfg.NumLayers {
			return nil, nil, fmt.Errorf("%s: tensor %s names a module GoPEFT cannot adapt (layer %d of %d, module %s)", dir, name, layer, cfg.NumLayers, module)
		}
		in, out := s.Dims(cfg)
		want := []int{hc.R, in}
		if mm[3] == "B" {
			want = []int{out, hc.R}
		}
		if !slices.Equal(x.Shape, want) {
			return nil, nil, fmt.Errorf("%s: tensor %s has shape %v, want %v (r=%d)", dir, name, x.Shape, want, hc.R)
		}
		if x.DType != "F32" {
			var err error
			if x, err = x.Convert("F32"); err != nil {
				return nil, nil, fmt.Errorf("%s: tensor %s: %w", dir, name, err)
			}
		}
		gt, err := x.ToGoMLX()
		if err != nil {
			return nil, nil, err
		}
		weights[peft.LoRAScope(layer, s)+".lora_"+mm[3]+".weight"] = gt
		layerSet[layer], siteSet[s] = true, true
	}
	if len(weights) == 0 {
		return nil, nil, fmt.Errorf("%s: %s holds no LoRA tensors", dir, AdapterWeightsFile)
	}
	l := &peft.LoRA{R: hc.R, Alpha: hc.LoRAAlpha, Dropout: hc.LoRADropout, Bias: "none", InitWeights: "true", UseRSLoRA: hc.UseRSLoRA}
	for _, s := range encoder.Sites {
		if siteSet[s] {
			l.TargetModules = append(l.TargetModules, string(s))
		}
	}
	if len(layerSet) < cfg.NumLayers {
		for n := range cfg.NumLayers {
			if layerSet[n] {
				l.LayersToTransform = append(l.LayersToTransform, n)
			}
		}
	}
	if want := 2 * len(layerSet) * len(siteSet); len(weights) != want {
		return nil, nil, fmt.Errorf("%s: %d LoRA tensors do not cover every targeted module in every adapted layer (want %d): GoPEFT's LoRA adapts the same modules in each of its layers", dir, len(weights), want)
	}
	return l, weights, l.Validate(cfg)
}

// LoadLoRA reads a Hugging Face peft LoRA directory into a new Tuned on m
// with one adapter called name and the given (freshly initialised) head.
func LoadLoRA(m *peft.Model, dir, name string, head peft.Head) (*peft.Tuned, error) {
	l, weights, err := ReadLoRA(dir, m.Config)
	if err != nil {
		return nil, err
	}
	t, err := peft.NewTuned(m, peft.NewSetup(name, l), head, 0)
	if err != nil {
		return nil, err
	}
	// t is new and unused: its variables are set in place.
	for key, w := range weights {
		scope, vname := encoder.KeyScope(peft.AdapterScope(name), key)
		v := t.Ctx.GetVariableByScopeAndName(scope, vname)
		if v == nil {
			return nil, fmt.Errorf("%s: no variable %s/%s for the loaded adapter", dir, scope, vname)
		}
		if err := v.SetValue(w); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// value reads a variable of t by scope and name.
func value(t *peft.Tuned, scope, name string) (*tensors.Tensor, error) {
	v := t.Ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		return nil, fmt.Errorf("no variable %s/%s", scope, name)
	}
	return v.Value()
}
