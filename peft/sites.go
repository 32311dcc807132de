package peft

import (
	"fmt"
	"strings"

	"github.com/gopeft/gopeft/peft/encoder"
)

// The target names methods accept (LoRA's and IA3's target_modules), shared
// by every method that adapts projection sites.

// siteNames maps every accepted target name onto a projection site.
var siteNames = map[string]encoder.Site{
	"query": encoder.Query, "key": encoder.Key, "value": encoder.Value,
	"attn_out": encoder.AttnOut, "ffn_in": encoder.FFNIn, "ffn_out": encoder.FFNOut,
	"attention.self.query": encoder.Query, "attention.self.key": encoder.Key, "attention.self.value": encoder.Value,
	"attention.output.dense": encoder.AttnOut, "intermediate.dense": encoder.FFNIn, "output.dense": encoder.FFNOut,
	"q_lin": encoder.Query, "k_lin": encoder.Key, "v_lin": encoder.Value,
	"out_lin": encoder.AttnOut, "lin1": encoder.FFNIn, "lin2": encoder.FFNOut,
}

// parseSites turns target names into sites in encoder order, without duplicates.
func parseSites(targets []string, def []encoder.Site) ([]encoder.Site, error) {
	if len(targets) == 0 {
		return def, nil
	}
	set := map[encoder.Site]bool{}
	for _, t := range targets {
		if t == "all-linear" {
			for _, s := range encoder.Sites {
				set[s] = true
			}
			continue
		}
		s, ok := siteNames[strings.TrimSpace(t)]
		if !ok {
			return nil, fmt.Errorf("target module %q is unknown: use query, key, value, attn_out, ffn_in, ffn_out (or HF names such as attention.output.dense, intermediate.dense, output.dense), or all-linear", t)
		}
		set[s] = true
	}
	var out []encoder.Site
	for _, s := range encoder.Sites {
		if set[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// SiteByName maps a target name (a site, an HF or DistilBERT module name)
// onto its projection site.
func SiteByName(name string) (encoder.Site, bool) {
	s, ok := siteNames[strings.TrimSpace(name)]
	return s, ok
}
