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
				p, ok := l.method.(placer)
				if !ok {
					continue
				}
				for _, pl := range p.placements(layer) {
					pl.Layer, pl.Dropped = layer, s.Drop.DroppedAt(layer)
					out = append(out, pl)
				}
			}
		}
	}
	return out
}
