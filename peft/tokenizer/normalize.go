package tokenizer

import (
	"encoding/json"
	"os"

	"github.com/sugarme/tokenizer/normalizer"
)

// bertNormalizer follows Hugging Face's BertNormalizer. sugarme v0.3.0's
// strips accents without decomposing first (so "é" survives) and reads
// "strip_accents": null as false, where HF means "same as lowercase".
type bertNormalizer struct {
	clean, chinese, lower, strip bool
}

func (b bertNormalizer) Normalize(n *normalizer.NormalizedString) (*normalizer.NormalizedString, error) {
	n, err := normalizer.NewBertNormalizer(b.clean, b.lower, b.chinese, false).Normalize(n)
	if err != nil {
		return nil, err
	}
	if b.strip {
		n = n.NFD().RemoveAccents()
	}
	return n, nil
}

func newBertNormalizer(lower bool) bertNormalizer {
	return bertNormalizer{clean: true, chinese: true, lower: lower, strip: lower}
}

// jsonBertNormalizer reads a tokenizer.json's normalizer section; ok is
// false unless it is a BertNormalizer.
func jsonBertNormalizer(path string) (bertNormalizer, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return bertNormalizer{}, false
	}
	var doc struct {
		Normalizer *struct {
			Type         string `json:"type"`
			CleanText    *bool  `json:"clean_text"`
			Chinese      *bool  `json:"handle_chinese_chars"`
			StripAccents *bool  `json:"strip_accents"`
			Lowercase    *bool  `json:"lowercase"`
		} `json:"normalizer"`
	}
	if json.Unmarshal(b, &doc) != nil || doc.Normalizer == nil || doc.Normalizer.Type != "BertNormalizer" {
		return bertNormalizer{}, false
	}
	// HF's defaults: clean_text, handle_chinese_chars and lowercase true;
	// strip_accents null follows lowercase.
	get := func(p *bool, def bool) bool {
		if p == nil {
			return def
		}
		return *p
	}
	n := doc.Normalizer
	out := bertNormalizer{clean: get(n.CleanText, true), chinese: get(n.Chinese, true), lower: get(n.Lowercase, true)}
	out.strip = get(n.StripAccents, out.lower)
	return out, true
}
