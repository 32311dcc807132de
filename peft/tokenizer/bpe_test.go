package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadBPE(t *testing.T) {
	dir := t.TempDir()
	vocab := `{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"H":4,"e":5,"l":6,"o":7,"w":8,"r":9,"d":10,"Ġ":11,"He":12,"ll":13,"Hell":14,"Hello":15,"Ġw":16,"or":17,"Ġwor":18,"ld":19,"Ġworld":20,"<mask>":21}`
	merges := "#version: 0.2\nH e\nl l\nHe ll\nHell o\nĠ w\no r\nĠw or\nl d\nĠwor ld\n"
	os.WriteFile(filepath.Join(dir, "vocab.json"), []byte(vocab), 0o644)
	os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(merges), 0o644)
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !tk.IsBPE() || tk.VocabSize() != 22 {
		t.Fatalf("IsBPE %v, VocabSize %d", tk.IsBPE(), tk.VocabSize())
	}
	if got := []int32{tk.PadID, tk.UnkID, tk.ClsID, tk.SepID, tk.MaskID}; !reflect.DeepEqual(got, []int32{1, 3, 0, 2, 21}) {
		t.Errorf("special ids = %v, want [1 3 0 2 21]", got)
	}
	if got := tk.Tokenize("Hello world"); !reflect.DeepEqual(got, []string{"Hello", "Ġworld"}) {
		t.Errorf("Tokenize = %q", got)
	}
	ids, _, mask := tk.Encode("Hello world", 6)
	if !reflect.DeepEqual(ids, []int32{0, 15, 20, 2, 1, 1}) || !reflect.DeepEqual(mask, []int32{1, 1, 1, 1, 0, 0}) {
		t.Errorf("Encode = %v %v", ids, mask)
	}
	if got := tk.Decode(ids); got != "Hello world" {
		t.Errorf("Decode = %q", got)
	}
	if err := tk.Save(t.TempDir()); err == nil {
		t.Error("Save of a BPE tokenizer should say it is unsupported")
	}
}
