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
