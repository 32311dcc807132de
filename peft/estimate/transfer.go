package estimate

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Transferability scores: how well frozen features f(x) of a few labelled
// examples suit a task, computed before any fine-tuning. Each takes
// features [n][d] and labels in [0, classes).

// checkLabelled validates features and labels and returns the number of
// classes (the largest label + 1).
func checkLabelled(features [][]float64, labels []int) (classes int, err error) {
	if len(features) == 0 {
		return 0, fmt.Errorf("no examples: transferability needs features of at least 2 labelled examples")
	}
	if len(features) != len(labels) {
		return 0, fmt.Errorf("%d feature rows but %d labels: give one label per row", len(features), len(labels))
	}
	d := len(features[0])
	if d == 0 {
		return 0, fmt.Errorf("feature rows are empty")
	}
	for i, f := range features {
		if len(f) != d {
			return 0, fmt.Errorf("feature row %d has %d values, row 0 has %d: all rows need the same length", i, len(f), d)
		}
		for _, v := range f {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("feature row %d holds %v", i, v)
			}
		}
		if labels[i] < 0 {
			return 0, fmt.Errorf("label %d of row %d is negative: labels are class indices 0, 1, ...", labels[i], i)
		}
		classes = max(classes, labels[i]+1)
	}
	if classes < 2 {
		return 0, fmt.Errorf("all %d examples have label %d: transferability needs at least 2 classes", len(labels), labels[0])
	}
	seen := make([]bool, classes)
	for _, l := range labels {
		seen[l] = true
	}
	for c, ok := range seen {
		if !ok {
			return 0, fmt.Errorf("label %d never occurs among labels 0..%d: sample every class, or number the classes present 0, 1, ...", c, classes-1)
		}
	}
	return classes, nil
}

// LogME is the logarithm of maximum evidence of You et al. (2021), "LogME:
// Practical Assessment of Pre-trained Models for Transfer Learning": for
// each class's one-hot target y, the Bayesian linear model y = F w + ε with
// prior w ~ N(0, α⁻¹I) and noise ε ~ N(0, β⁻¹) has evidence
//
//	log p(y|F,α,β) = n/2 log β + d/2 log α − n/2 log 2π
//	                 − β/2 ‖Fm − y‖² − α/2 mᵀm − 1/2 log|αI + βFᵀF|,
//	m = β (αI + βFᵀF)⁻¹ Fᵀy,
//
// maximised over α, β by MacKay's fixed point γ = Σ βσᵢ²/(α + βσᵢ²),
// α = γ/mᵀm, β = (n − γ)/‖Fm − y‖² from α = β = 1 (iterated to relative
// changes below 1e-12 rather than the paper's 1e-3, so that independent
// implementations agree to many digits). The score is the maximum evidence
// divided by n, averaged over classes; higher is better.
func LogME(features [][]float64, labels []int) (float64, error) {
	classes, err := checkLabelled(features, labels)
	if err != nil {
		return 0, err
	}
	n, d := len(features), len(features[0])
	if d >= n {
		return 0, fmt.Errorf("LogME needs more examples than feature dimensions (%d examples, %d dimensions): with d >= n the linear model fits the targets exactly and the evidence has no maximum; sample more examples", n, d)
	}
	lambda, v := symEigen(gram(features))
	for i := range lambda {
		lambda[i] = max(lambda[i], 0) // FᵀF is positive semidefinite; rounding can dip below 0
	}
	total := 0.0
	for c := 0; c < classes; c++ {
		y := make([]float64, n)
		for i, l := range labels {
			if l == c {
				y[i] = 1
			}
		}
		// z = Vᵀ Fᵀ y: the target in the eigenbasis of FᵀF.
		fty := make([]float64, d)
		for i, row := range features {
			if y[i] == 0 {
				continue
			}
			for j, x := range row {
				fty[j] += x
			}
		}
		z := make([]float64, d)
		for k := 0; k < d; k++ {
			for j := 0; j < d; j++ {
				z[k] += v[j][k] * fty[j]
			}
		}
		alpha, beta := 1.0, 1.0
		var m []float64
		var residual, mm float64
		mean := func() {
			// m = β V diag(1/(α+βλ)) z, then ‖Fm − y‖² and mᵀm directly.
			coef := make([]float64, d)
			for k := range coef {
				coef[k] = beta * z[k] / (alpha + beta*lambda[k])
			}
			m = make([]float64, d)
			for j := 0; j < d; j++ {
				for k := 0; k < d; k++ {
					m[j] += v[j][k] * coef[k]
				}
			}
			mm = dot(m, m)
			residual = 0
			for i, row := range features {
				r := dot(row, m) - y[i]
				residual += r * r
			}
		}
		for iter := 0; iter < 10000; iter++ {
			mean()
			gamma := 0.0
			for _, l := range lambda {
				gamma += beta * l / (alpha + beta*l)
			}
			if residual <= 0 || mm <= 0 {
				return 0, fmt.Errorf("LogME: class %d is fitted exactly by the features (residual %g, ‖m‖² %g): the evidence has no maximum", c, residual, mm)
			}
			newAlpha, newBeta := gamma/mm, (float64(n)-gamma)/residual
			done := math.Abs(newAlpha-alpha) <= 1e-12*alpha && math.Abs(newBeta-beta) <= 1e-12*beta
			alpha, beta = newAlpha, newBeta
			if done {
				break
			}
		}
		mean()
		logDet := 0.0
		for _, l := range lambda {
			logDet += math.Log(alpha + beta*l)
		}
		evidence := float64(n)/2*math.Log(beta) + float64(d)/2*math.Log(alpha) - float64(n)/2*math.Log(2*math.Pi) -
			beta/2*residual - alpha/2*mm - logDet/2
		total += evidence / float64(n)
	}
	return total / float64(classes), nil
}

// HScore is the H-score of Bao et al. (2019), "An Information-Theoretic
// Approach to Transferability in Task Transfer Learning":
// tr(cov(f)⁻¹ cov(E[f|y])), the between-class share of the features'
// variance; higher is better, at most classes − 1. Both covariances divide
// by n, and cov(f)⁻¹ is the pseudo-inverse dropping eigenvalues below
// 1e-10 times the largest (collinear features, or d > n).
func HScore(features [][]float64, labels []int) (float64, error) {
	classes, err := checkLabelled(features, labels)
	if err != nil {
		return 0, err
	}
	n, d := len(features), len(features[0])
	mu := make([]float64, d)
	for _, row := range features {
		for j, x := range row {
			mu[j] += x / float64(n)
		}
	}
	centred := make([][]float64, n)
	for i, row := range features {
		centred[i] = make([]float64, d)
		for j, x := range row {
			centred[i][j] = x - mu[j]
		}
	}
	cov := gram(centred)
	// Class means of the centred features, weighted by class frequency.
	means := make([][]float64, classes)
	counts := make([]float64, classes)
	for c := range means {
		means[c] = make([]float64, d)
	}
	for i, l := range labels {
		counts[l]++
		for j, x := range centred[i] {
			means[l][j] += x
		}
	}
	lambda, v := symEigen(cov)
	cut := 1e-10 * lambda[0]
	score := 0.0
	for c := range means {
		if counts[c] == 0 {
			continue
		}
		// tr(Σ⁺ Σ_g) = Σ_c (n_c/n) μ_cᵀ Σ⁺ μ_c, with cov = Σ·n (gram of centred rows).
		for j := range means[c] {
			means[c][j] /= counts[c]
		}
		for k := 0; k < d; k++ {
			if lambda[k] <= cut {
				continue
			}
			p := 0.0
			for j := 0; j < d; j++ {
				p += v[j][k] * means[c][j]
			}
			score += counts[c] / float64(n) * p * p / (lambda[k] / float64(n))
		}
	}
	return score, nil
}

// LEEP is the log expected empirical prediction of Nguyen et al. (2020),
// "LEEP: A New Measure to Evaluate Transferability of Learned
// Representations": with θ(x) the source model's distribution over its own
// labels z (rows of probs, each summing to 1), the empirical joint
// P̂(y, z) = 1/n Σ_{i: yᵢ=y} θ(xᵢ)_z gives P̂(y|z) = P̂(y, z)/P̂(z), and
//
//	LEEP = 1/n Σᵢ log Σ_z P̂(yᵢ|z) θ(xᵢ)_z,
//
// the average log-likelihood of the expected empirical predictor; it is
// at most 0, higher is better.
func LEEP(probs [][]float64, labels []int) (float64, error) {
	classes, err := checkLabelled(probs, labels)
	if err != nil {
		return 0, err
	}
	n, z := len(probs), len(probs[0])
	for i, row := range probs {
		s := 0.0
		for _, p := range row {
			if p < 0 {
				return 0, fmt.Errorf("row %d has a negative probability: LEEP needs distributions over the source labels", i)
			}
			s += p
		}
		if math.Abs(s-1) > 1e-4 {
			return 0, fmt.Errorf("row %d sums to %g, not 1: LEEP needs distributions (apply softmax to logits)", i, s)
		}
	}
	joint := make([][]float64, classes)
	for c := range joint {
		joint[c] = make([]float64, z)
	}
	marginal := make([]float64, z)
	for i, row := range probs {
		for k, p := range row {
			joint[labels[i]][k] += p / float64(n)
			marginal[k] += p / float64(n)
		}
	}
	total := 0.0
	for i, row := range probs {
		s := 0.0
		for k, p := range row {
			if marginal[k] > 0 {
				s += joint[labels[i]][k] / marginal[k] * p
			}
		}
		total += math.Log(s)
	}
	return total / float64(n), nil
}

// ProbeOptions control ProbeAccuracy.
type ProbeOptions struct {
	Folds int     // k of k-fold cross-validation (default 5)
	Ridge float64 // L2 penalty on standardised features (default 1)
	Seed  uint64  // the fold assignment
}

// ProbeAccuracy is the k-fold cross-validated accuracy of a linear probe on
// frozen features: a ridge classifier (least squares onto one-hot targets
// with an L2 penalty, predicting the largest output, as scikit-learn's
// RidgeClassifier) on features standardised with each training fold's mean
// and deviation. Folds are stratified: each class is shuffled (seeded) and
// dealt round-robin.
func ProbeAccuracy(features [][]float64, labels []int, opt ProbeOptions) (float64, error) {
	classes, err := checkLabelled(features, labels)
	if err != nil {
		return 0, err
	}
	if opt.Folds == 0 {
		opt.Folds = 5
	}
	if opt.Ridge == 0 {
		opt.Ridge = 1
	}
	n, d := len(features), len(features[0])
	if opt.Folds < 2 || opt.Folds > n {
		return 0, fmt.Errorf("%d folds for %d examples: use between 2 and n folds", opt.Folds, n)
	}
	fold := make([]int, n)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	next := 0
	for c := 0; c < classes; c++ {
		var idx []int
		for i, l := range labels {
			if l == c {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx {
			fold[i] = next % opt.Folds
			next++
		}
	}
	correct := 0
	for f := 0; f < opt.Folds; f++ {
		var train []int
		for i := range features {
			if fold[i] != f {
				train = append(train, i)
			}
		}
		mean, scale := make([]float64, d), make([]float64, d)
		for _, i := range train {
			for j, x := range features[i] {
				mean[j] += x / float64(len(train))
			}
		}
		for _, i := range train {
			for j, x := range features[i] {
				scale[j] += (x - mean[j]) * (x - mean[j]) / float64(len(train))
			}
		}
		for j := range scale {
			scale[j] = math.Sqrt(scale[j])
			if scale[j] == 0 {
				scale[j] = 1
			}
		}
		std := func(i int) []float64 {
			r := make([]float64, d+1)
			for j, x := range features[i] {
				r[j] = (x - mean[j]) / scale[j]
			}
			r[d] = 1 // intercept, not penalised
			return r
		}
		x := make([][]float64, len(train))
		for k, i := range train {
			x[k] = std(i)
		}
		a := gram(x)
		for j := 0; j < d; j++ {
			a[j][j] += opt.Ridge
		}
		b := make([][]float64, d+1)
		for j := range b {
			b[j] = make([]float64, classes)
		}
		for k, i := range train {
			for c := 0; c < classes; c++ {
				t := -1.0
				if labels[i] == c {
					t = 1
				}
				for j, v := range x[k] {
					b[j][c] += v * t
				}
			}
		}
		w, err := solveSPD(a, b)
		if err != nil {
			return 0, fmt.Errorf("linear probe: %w", err)
		}
		for i := range features {
			if fold[i] != f {
				continue
			}
			r := std(i)
			best, bestScore := 0, math.Inf(-1)
			for c := 0; c < classes; c++ {
				s := 0.0
				for j, v := range r {
					s += v * w[j][c]
				}
				if s > bestScore {
					best, bestScore = c, s
				}
			}
			if best == labels[i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(n), nil
}
