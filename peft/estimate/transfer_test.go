package estimate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fixedLabelled is a seeded matrix: n rows, d features, classes shifted
// apart by sep, plus softmax distributions over z source labels whose
// logits lean on the class.
func fixedLabelled(seed uint64, n, d, classes, z int, sep float64) (f [][]float64, y []int, probs [][]float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	centres := make([][]float64, classes)
	for c := range centres {
		centres[c] = make([]float64, d)
		for j := range centres[c] {
			centres[c][j] = sep * rng.NormFloat64()
		}
	}
	for i := 0; i < n; i++ {
		c := i % classes
		row := make([]float64, d)
		for j := range row {
			row[j] = centres[c][j] + rng.NormFloat64()
		}
		logits := make([]float64, z)
		sum := 0.0
		for k := range logits {
			logits[k] = rng.NormFloat64()
			if k%classes == c {
				logits[k] += sep
			}
			logits[k] = math.Exp(logits[k])
			sum += logits[k]
		}
		for k := range logits {
			logits[k] /= sum
		}
		f, y, probs = append(f, row), append(y, c), append(probs, logits)
	}
	return f, y, probs
}

func relClose(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

// TestTransferMatchesNumPy compares LogME, H-score and LEEP with the
// independent NumPy implementation in scripts/estimate/reference.py on
// fixed matrices: well separated and not, more rows than features and
// nearly as many features as rows. (With d >= n a linear model
// interpolates one-hot targets, β diverges and LogME has no maximum.)
func TestTransferMatchesNumPy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		t.Skip("needs /usr/bin/python3 with numpy (Debian python3-numpy):", err)
	}
	script, _ := filepath.Abs("../../scripts/estimate/reference.py")
	cases := []struct {
		name             string
		seed             uint64
		n, d, classes, z int
		sep              float64
	}{
		{"separated", 1, 60, 8, 3, 10, 2},
		{"overlapping", 2, 80, 12, 2, 7, 0.3},
		{"nearly square", 3, 40, 30, 4, 16, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, y, probs := fixedLabelled(c.seed, c.n, c.d, c.classes, c.z, c.sep)
			path := filepath.Join(t.TempDir(), "m.jsonl")
			file, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			enc := json.NewEncoder(file)
			for i := range f {
				enc.Encode(map[string]any{"features": f[i], "label": y[i], "probs": probs[i]})
			}
			file.Close()
			out, err := exec.Command("/usr/bin/python3", script, path).Output()
			if err != nil {
				t.Fatalf("reference.py: %v", err)
			}
			var ref map[string]float64
			if err := json.Unmarshal(out, &ref); err != nil {
				t.Fatalf("reference.py printed %q: %v", out, err)
			}
			logme, err := LogME(f, y)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := HScore(f, y)
			if err != nil {
				t.Fatal(err)
			}
			leep, err := LEEP(probs, y)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []struct {
				name    string
				got, py float64
			}{{"logme", logme, ref["logme"]}, {"hscore", hs, ref["hscore"]}, {"leep", leep, ref["leep"]}} {
				if !relClose(g.got, g.py, 1e-6) {
					t.Errorf("%s: Go %.12g, NumPy %.12g (relative difference %.2g)", g.name, g.got, g.py, math.Abs(g.got-g.py)/math.Abs(g.py))
				} else {
					t.Logf("%s: Go %.12g, NumPy %.12g", g.name, g.got, g.py)
				}
			}
		})
	}
}

func TestTransferOrdersSeparation(t *testing.T) {
	// Better-separated classes score higher on every measure.
	fa, ya, pa := fixedLabelled(5, 90, 6, 3, 9, 2)
	fb, yb, pb := fixedLabelled(5, 90, 6, 3, 9, 0.2)
	la, _ := LogME(fa, ya)
	lb, _ := LogME(fb, yb)
	ha, _ := HScore(fa, ya)
	hb, _ := HScore(fb, yb)
	ea, _ := LEEP(pa, ya)
	eb, _ := LEEP(pb, yb)
	aa, _ := ProbeAccuracy(fa, ya, ProbeOptions{})
	ab, _ := ProbeAccuracy(fb, yb, ProbeOptions{})
	if la <= lb || ha <= hb || ea <= eb || aa <= ab {
		t.Errorf("separated vs overlapping: LogME %g/%g, H-score %g/%g, LEEP %g/%g, probe %g/%g", la, lb, ha, hb, ea, eb, aa, ab)
	}
	if ha > 2+1e-9 {
		t.Errorf("H-score %g exceeds classes-1 = 2", ha)
	}
	if aa < 0.9 {
		t.Errorf("probe accuracy on well separated classes %g, want >= 0.9", aa)
	}
}

func TestTransferBadInput(t *testing.T) {
	if _, err := LogME([][]float64{{1}, {2}}, []int{0}); err == nil {
		t.Error("row/label count mismatch accepted")
	}
	if _, err := LogME([][]float64{{1}, {2}}, []int{1, 1}); err == nil {
		t.Error("a single class accepted")
	}
	if _, err := LEEP([][]float64{{0.5, 0.2}, {0.5, 0.5}}, []int{0, 1}); err == nil {
		t.Error("a row not summing to 1 accepted")
	}
	if _, err := LogME([][]float64{{1}, {2}, {3}}, []int{0, 2, 2}); err == nil {
		t.Error("a missing class accepted")
	}
	if _, err := HScore([][]float64{{1, 2}, {3}}, []int{0, 1}); err == nil {
		t.Error("ragged rows accepted")
	}
}
