//go:build !amd64

package simd

// OK is false: there are no vector loops for this architecture (a var, as
// on amd64, so tests can switch the loops off everywhere).
var OK = false

func AddVV(o, a, b []float32)                   { panic("simd: not available") }
func SubVV(o, a, b []float32)                   { panic("simd: not available") }
func MulVV(o, a, b []float32)                   { panic("simd: not available") }
func DivVV(o, a, b []float32)                   { panic("simd: not available") }
func AddVS(o, a []float32, s float32)           { panic("simd: not available") }
func SubVS(o, a []float32, s float32)           { panic("simd: not available") }
func MulVS(o, a []float32, s float32)           { panic("simd: not available") }
func DivVS(o, a []float32, s float32)           { panic("simd: not available") }
func SubSV(o []float32, s float32, b []float32) { panic("simd: not available") }
func DivSV(o []float32, s float32, b []float32) { panic("simd: not available") }

// OKMath is false: there are no vector loops for this architecture.
var OKMath = false

func ExpF32(o, x []float32) int { panic("simd: not available") }
func ErfF32(o, x []float32) int { panic("simd: not available") }
