// Package simd has AVX float32 loops for the blas backend's binary ops. It
// is its own package because Go assembly cannot live in a package that uses
// cgo (the blas package does, for OpenBLAS).
package simd

import "golang.org/x/sys/cpu"

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
