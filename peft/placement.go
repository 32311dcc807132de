package peft

import "slices"

// Placement is one module an adapter puts in one layer, for layer diagrams:
// its fields are widgets.LayerSite's, so widgets.LayerSite(p) converts it.
type Placement struct {
	Layer int
	// Site is the hook point: a projection (query, key, value, attn_out,
	// ffn_in, ffn_out), "intermediate" (the FFN activation), "attention" or
	// "ffn" (after that sub-block), "parallel" (beside the FFN), "prefix"
	// or "prompt".
	Site string
	// Method names what sits there: houlsby, pfeiffer, parallel, lora, ia3,
	// prefix, prompt, bitfit, ln_tuning.
	Method string
	// Dropped marks modules AdapterDrop removes at inference.
	Dropped bool
	Label   string // a short mark, e.g. "M" for MAM masks
}

// placer is implemented by methods to say where they sit in a layer (Layer
// and Dropped are filled in by Placements).
type placer interface {
	placements(layer int) []Placement
}

// depthPlacer is a placer that needs the model's depth (PartialFinetune's
// top layers).
type depthPlacer interface {
	placementsAt(layer, numLayers int) []Placement
}

// Placements lists where every active adapter of s sits in a model of
// numLayers layers, layer by layer, each union part on its own.
func (s *Setup) Placements(numLayers int) []Placement {
	var out []Placement
	active := s.ActiveNames()
	for _, a := range s.Adapters {
		if !slices.Contains(active, a.Name) {
			continue
		}
		for layer := range numLayers {
			for _, l := range leavesOf(a.Method) {
				var pls []Placement
				if dp, ok := l.method.(depthPlacer); ok {
					pls = dp.placementsAt(layer, numLayers)
				} else if p, ok := l.method.(placer); ok {
					pls = p.placements(layer)
				}
				for _, pl := range pls {
					pl.Layer, pl.Dropped = layer, s.Drop.DroppedAt(layer)
					out = append(out, pl)
				}
			}
		}
	}
	return out
}
