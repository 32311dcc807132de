package peft

import (
	"path/filepath"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/internal/atomicfile"
	"github.com/gopeft/gopeft/peft/encoder"
)

// BaseWeightsFile holds, in an adapter directory, the base weights a
// method trains itself (BitFit's biases, LN tuning's LayerNorms, full
// fine-tuning's everything), keyed by canonical name. Methods with
// variables of their own keep those in AdapterWeightsFile beside it.
const BaseWeightsFile = "base_weights.safetensors"

// trainedBaseTensors returns the base weights method m trains in t, by
// canonical name; empty for methods that train none.
func trainedBaseTensors(t *Tuned, m Method) (map[string]*tensors.Tensor, error) {
	var trainers []BaseTrainer
	for _, l := range Leaves(m) {
		if bt, ok := l.(BaseTrainer); ok {
			trainers = append(trainers, bt)
		}
	}
	out := map[string]*tensors.Tensor{}
	if len(trainers) == 0 {
		return out, nil
	}
	for v := range t.Ctx.IterVariables() {
		if !encoder.IsBase(v) {
			continue
		}
		name := encoder.CanonicalName(v)
		for _, bt := range trainers {
			if bt.TrainsBase(name) {
				val, err := v.Value()
				if err != nil {
					return nil, err
				}
				out[name] = val
				break
			}
		}
	}
	return out, nil
}

// saveBaseWeights writes trained base weights (trainedBaseTensors) of
// adapter name to dir/BaseWeightsFile; nothing when there are none.
func saveBaseWeights(ts map[string]*tensors.Tensor, m Method, name, dir string) error {
	if len(ts) == 0 {
		return nil
	}
	b, err := marshalTensors(ts, map[string]string{"format": "gopeft", "adapter": name, "method": m.Kind(), "content": "trained base weights"})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, BaseWeightsFile), b, 0o644)
}

// loadBaseWeights sets the base weights in dir/BaseWeightsFile, if present;
// every tensor must name an existing base weight of the same shape.
func loadBaseWeights(t *Tuned, dir string) error {
	file := filepath.Join(dir, BaseWeightsFile)
	if !fileExists(file) {
		return nil
	}
	return loadScope(t, "", file, false)
}
