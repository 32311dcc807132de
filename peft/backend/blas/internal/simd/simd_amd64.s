#include "textflag.h"

// AVX float32 loops for the binary ops (see simd_amd64.go). IEEE single
// precision, no FMA: the same bits as the Go loops.

// func AddVV(o, a, b []float32)
TEXT ·AddVV(SB), NOSPLIT, $0-72
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	XORQ AX, AX
addvv8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT addvv1
	VMOVUPS (SI)(AX*4), Y0
	VADDPS (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP addvv8
addvv1:
	CMPQ AX, CX
	JGE addvvdone
	MOVSS (SI)(AX*4), X0
	ADDSS (DX)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP addvv1
addvvdone:
	VZEROUPPER
	RET

// func AddVS(o, a []float32, s float32)
TEXT ·AddVS(SB), NOSPLIT, $0-52
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
	XORQ AX, AX
addvs8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT addvs1
	VMOVUPS (SI)(AX*4), Y0
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP addvs8
addvs1:
	CMPQ AX, CX
	JGE addvsdone
	MOVSS (SI)(AX*4), X0
	ADDSS X1, X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP addvs1
addvsdone:
	VZEROUPPER
	RET

// func SubVV(o, a, b []float32)
TEXT ·SubVV(SB), NOSPLIT, $0-72
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	XORQ AX, AX
subvv8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT subvv1
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP subvv8
subvv1:
	CMPQ AX, CX
	JGE subvvdone
	MOVSS (SI)(AX*4), X0
	SUBSS (DX)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP subvv1
subvvdone:
	VZEROUPPER
	RET

// func SubVS(o, a []float32, s float32)
TEXT ·SubVS(SB), NOSPLIT, $0-52
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
	XORQ AX, AX
subvs8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT subvs1
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP subvs8
subvs1:
	CMPQ AX, CX
	JGE subvsdone
	MOVSS (SI)(AX*4), X0
	SUBSS X1, X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP subvs1
subvsdone:
	VZEROUPPER
	RET

// func MulVV(o, a, b []float32)
TEXT ·MulVV(SB), NOSPLIT, $0-72
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	XORQ AX, AX
mulvv8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT mulvv1
	VMOVUPS (SI)(AX*4), Y0
	VMULPS (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP mulvv8
mulvv1:
	CMPQ AX, CX
	JGE mulvvdone
	MOVSS (SI)(AX*4), X0
	MULSS (DX)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP mulvv1
mulvvdone:
	VZEROUPPER
	RET

// func MulVS(o, a []float32, s float32)
TEXT ·MulVS(SB), NOSPLIT, $0-52
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
	XORQ AX, AX
mulvs8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT mulvs1
	VMOVUPS (SI)(AX*4), Y0
	VMULPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP mulvs8
mulvs1:
	CMPQ AX, CX
	JGE mulvsdone
	MOVSS (SI)(AX*4), X0
	MULSS X1, X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP mulvs1
mulvsdone:
	VZEROUPPER
	RET

// func DivVV(o, a, b []float32)
TEXT ·DivVV(SB), NOSPLIT, $0-72
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ b_base+48(FP), DX
	XORQ AX, AX
divvv8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT divvv1
	VMOVUPS (SI)(AX*4), Y0
	VDIVPS (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP divvv8
divvv1:
	CMPQ AX, CX
	JGE divvvdone
	MOVSS (SI)(AX*4), X0
	DIVSS (DX)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP divvv1
divvvdone:
	VZEROUPPER
	RET

// func DivVS(o, a []float32, s float32)
TEXT ·DivVS(SB), NOSPLIT, $0-52
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	VBROADCASTSS s+48(FP), Y1
	XORQ AX, AX
divvs8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT divvs1
	VMOVUPS (SI)(AX*4), Y0
	VDIVPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP divvs8
divvs1:
	CMPQ AX, CX
	JGE divvsdone
	MOVSS (SI)(AX*4), X0
	DIVSS X1, X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP divvs1
divvsdone:
	VZEROUPPER
	RET

// func SubSV(o []float32, s float32, b []float32)
TEXT ·SubSV(SB), NOSPLIT, $0-56
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	VBROADCASTSS s+24(FP), Y1
	MOVQ b_base+32(FP), DX
	XORQ AX, AX
subsv8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT subsv1
	VSUBPS (DX)(AX*4), Y1, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP subsv8
subsv1:
	CMPQ AX, CX
	JGE subsvdone
	MOVSS X1, X0
	SUBSS (DX)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP subsv1
subsvdone:
	VZEROUPPER
	RET

// func DivSV(o []float32, s float32, b []float32)
TEXT ·DivSV(SB), NOSPLIT, $0-56
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	VBROADCASTSS s+24(FP), Y1
	MOVQ b_base+32(FP), DX
	XORQ AX, AX
divsv8:
	LEAQ 8(AX), BX
	CMPQ BX, CX
	JGT divsv1
	VDIVPS (DX)(AX*4), Y1, Y0
	VMOVUPS Y0, (DI)(AX*4)
	MOVQ BX, AX
	JMP divsv8
divsv1:
	CMPQ AX, CX
	JGE divsvdone
	MOVSS X1, X0
	DIVSS (DX)(AX*4), X0
	MOVSS X0, (DI)(AX*4)
	INCQ AX
	JMP divsv1
divsvdone:
	VZEROUPPER
	RET

// func expF32(o, x []float32, c *[16]float32)
// o[i] = e^x[i] for the first len(o)&^7 elements. c: log2e, ln2 (high and
// low parts), the polynomial p5..p0 of e^r on |r| <= ln2/2, 1, the clamp
// bounds 88.72284 and -104, +Inf. 2^k is applied as 2^(k/2)·2^(k-k/2) so
// that k in [-150, 128] stays in range.
TEXT ·expF32(SB), NOSPLIT, $0-56
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ c+48(FP), R8
	ANDQ $-8, CX
	MOVL $127, AX
	MOVD AX, X15
	VPBROADCASTD X15, Y15
	XORQ AX, AX
exploop:
	CMPQ AX, CX
	JGE expdone
	VMOVUPS (SI)(AX*4), Y0
	VBROADCASTSS 40(R8), Y1
	VBROADCASTSS 44(R8), Y2
	VMINPS Y0, Y1, Y0 // min(hi, x): a NaN x stays
	VMAXPS Y0, Y2, Y0 // max(lo, x)
	VBROADCASTSS 0(R8), Y3
	VMULPS Y3, Y0, Y3
	VROUNDPS $0, Y3, Y3 // k = round(x·log2e)
	VMOVAPS Y0, Y4
	VBROADCASTSS 4(R8), Y5
	VFNMADD231PS Y5, Y3, Y4 // r = x - k·ln2hi
	VBROADCASTSS 8(R8), Y5
	VFNMADD231PS Y5, Y3, Y4 // r -= k·ln2lo
	VBROADCASTSS 12(R8), Y6 // p5
	VBROADCASTSS 16(R8), Y5
	VFMADD213PS Y5, Y4, Y6
	VBROADCASTSS 20(R8), Y5
	VFMADD213PS Y5, Y4, Y6
	VBROADCASTSS 24(R8), Y5
	VFMADD213PS Y5, Y4, Y6
	VBROADCASTSS 28(R8), Y5
	VFMADD213PS Y5, Y4, Y6
	VBROADCASTSS 32(R8), Y5
	VFMADD213PS Y5, Y4, Y6 // y = p(r) (degree 5, p0 = 1/2)
	VMULPS Y4, Y4, Y7
	VFMADD213PS Y4, Y7, Y6 // y = y·r² + r
	VBROADCASTSS 36(R8), Y5
	VADDPS Y5, Y6, Y6 // + 1
	VCVTPS2DQ Y3, Y8
	VPSRAD $1, Y8, Y9
	VPSUBD Y9, Y8, Y10
	VPADDD Y15, Y9, Y9
	VPSLLD $23, Y9, Y9
	VPADDD Y15, Y10, Y10
	VPSLLD $23, Y10, Y10
	VMULPS Y9, Y6, Y6
	VMULPS Y10, Y6, Y6
	VBROADCASTSS 40(R8), Y1
	VMOVUPS (SI)(AX*4), Y0
	VCMPPS $0x1e, Y1, Y0, Y11 // x > hi: +Inf
	VBROADCASTSS 48(R8), Y12
	VBLENDVPS Y11, Y12, Y6, Y6
	VMOVUPS Y6, (DI)(AX*4)
	ADDQ $8, AX
	JMP exploop
expdone:
	VZEROUPPER
	RET

// func erfF32(o, x []float32, c *[16]float32)
// o[i] = erf(x[i]) for the first len(o)&^7 elements: x clamped to [-4, 4],
// then x·P(x²)/Q(x²); c: P's 7 coefficients (x¹² first), Q's 5 (x⁸ first),
// 4, -4.
TEXT ·erfF32(SB), NOSPLIT, $0-56
	MOVQ o_base+0(FP), DI
	MOVQ o_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	MOVQ c+48(FP), R8
	ANDQ $-8, CX
	XORQ AX, AX
erfloop:
	CMPQ AX, CX
	JGE erfdone
	VMOVUPS (SI)(AX*4), Y0
	VBROADCASTSS 48(R8), Y1
	VBROADCASTSS 52(R8), Y2
	VMINPS Y0, Y1, Y0
	VMAXPS Y0, Y2, Y0
	VMULPS Y0, Y0, Y3 // x²
	VBROADCASTSS 0(R8), Y4
	VBROADCASTSS 4(R8), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS 8(R8), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS 12(R8), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS 16(R8), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS 20(R8), Y5
	VFMADD213PS Y5, Y3, Y4
	VBROADCASTSS 24(R8), Y5
	VFMADD213PS Y5, Y3, Y4
	VMULPS Y0, Y4, Y4 // p = x·P(x²)
	VBROADCASTSS 28(R8), Y6
	VBROADCASTSS 32(R8), Y5
	VFMADD213PS Y5, Y3, Y6
	VBROADCASTSS 36(R8), Y5
	VFMADD213PS Y5, Y3, Y6
	VBROADCASTSS 40(R8), Y5
	VFMADD213PS Y5, Y3, Y6
	VBROADCASTSS 44(R8), Y5
	VFMADD213PS Y5, Y3, Y6 // q = Q(x²)
	VDIVPS Y6, Y4, Y4
	VMOVUPS Y4, (DI)(AX*4)
	ADDQ $8, AX
	JMP erfloop
erfdone:
	VZEROUPPER
	RET
