// Package simd has AVX float32 loops for the blas backend's binary ops. It
// is its own package because Go assembly cannot live in a package that uses
// cgo (the blas package does, for OpenBLAS).
package simd

import (
	"math"

	"golang.org/x/sys/cpu"
)

// OK reports whether the loops may run (the CPU has AVX2).
var OK = cpu.X86.HasAVX2

// o = a op b elementwise (VV), o = a op s (VS), o = s op b (SV); o, a and b
// have the same length. Plain IEEE single precision, no FMA: the same bits
// as Go's scalar loops.

func AddVV(o, a, b []float32)
func SubVV(o, a, b []float32)
func MulVV(o, a, b []float32)
func DivVV(o, a, b []float32)
func AddVS(o, a []float32, s float32)
func SubVS(o, a []float32, s float32)
func MulVS(o, a []float32, s float32)
func DivVS(o, a []float32, s float32)
func SubSV(o []float32, s float32, b []float32)
func DivSV(o []float32, s float32, b []float32)

// OKMath reports whether ExpF32 and ErfF32 may run (AVX2 and FMA).
var OKMath = OK && cpu.X86.HasFMA

func expF32(o, x []float32, c *[16]float32)
func erfF32(o, x []float32, c *[16]float32)

var expConsts = [16]float32{
	1.44269504088896341, 0.693359375, -2.12194440e-4,
	1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
	1, 88.72283935546875, -104, float32(math.Inf(1)),
}

var erfConsts = [16]float32{
	-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
	-7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02,
	-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03, -1.42647390514189e-02,
	4, -4,
}

// ExpF32 sets o[i] = e^x[i] for i < len(o)&^7 and returns that count; the
// caller does the rest. Accurate to a few float32 ulp; results below the
// smallest subnormal are 0, above float32's range +Inf, NaN stays NaN.
func ExpF32(o, x []float32) int {
	x = x[:len(o)]
	expF32(o, x, &expConsts)
	return len(o) &^ 7
}

// ErfF32 is ExpF32 for erf (absolute error about 1e-7).
func ErfF32(o, x []float32) int {
	x = x[:len(o)]
	erfF32(o, x, &erfConsts)
	return len(o) &^ 7
}
