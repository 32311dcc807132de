package peft

import (
	"strings"
	"testing"
)

func TestFullFinetuningTrainsEveryBaseWeight(t *testing.T) {
	m := tinyModel(t)
	before := modelSnapshot(t, m)
	tu := newTunedOne(t, m, "full", &FullFinetuning{})
	if d := maxAbsDiff(modelHidden(t, m), tunedHidden(t, tu)); d != 0 {
		t.Errorf("untrained full fine-tuning changed the output by %g", d)
	}
	checkTrainedExactly(t, tu, func(n string) bool {
		return strings.HasPrefix(n, "/encoder/") || strings.HasPrefix(n, "/embeddings/")
	})
	assertModelUnchanged(t, m, before)
	methodJSONRoundTrip(t, &FullFinetuning{})
}
