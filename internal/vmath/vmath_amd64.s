//go:build !purego

#include "textflag.h"

// Eight copies of each constant of sumexp.go, for 256-bit memory operands.
#define CONST8(name, bits) \
	DATA name<>+0(SB)/4, $bits \
	DATA name<>+4(SB)/4, $bits \
	DATA name<>+8(SB)/4, $bits \
	DATA name<>+12(SB)/4, $bits \
	DATA name<>+16(SB)/4, $bits \
	DATA name<>+20(SB)/4, $bits \
	DATA name<>+24(SB)/4, $bits \
	DATA name<>+28(SB)/4, $bits \
	GLOBL name<>(SB), RODATA|NOPTR, $32

CONST8(expLog2e, 0x3fb8aa3b)
CONST8(expLn2Hi, 0x3f318000)
CONST8(expLn2Lo, 0xb95e8083)
CONST8(expP0, 0x39506967)
CONST8(expP1, 0x3ab743ce)
CONST8(expP2, 0x3c088908)
CONST8(expP3, 0x3d2aa9c1)
CONST8(expP4, 0x3e2aaaaa)
CONST8(expP5, 0x3f000000)
CONST8(expOne, 0x3f800000)
CONST8(expMaxF, 0x7f7fffff)
CONST8(expMinExp, 0xc2ae0000) // −87

// EXPPOLY sets Y3 = e^d for d in Y0 (in [−87, 0]; clobbers Y0, Y2, Y4):
// expOf's steps, every product rounded before the next sum (no FMA).
#define EXPPOLY \
	VMULPS    expLog2e<>(SB), Y0, Y2 \
	VROUNDPS  $0, Y2, Y2 \
	VMULPS    expLn2Hi<>(SB), Y2, Y3 \
	VSUBPS    Y3, Y0, Y0 \
	VMULPS    expLn2Lo<>(SB), Y2, Y3 \
	VSUBPS    Y3, Y0, Y0 \
	VMULPS    expP0<>(SB), Y0, Y3 \
	VADDPS    expP1<>(SB), Y3, Y3 \
	VMULPS    Y0, Y3, Y3 \
	VADDPS    expP2<>(SB), Y3, Y3 \
	VMULPS    Y0, Y3, Y3 \
	VADDPS    expP3<>(SB), Y3, Y3 \
	VMULPS    Y0, Y3, Y3 \
	VADDPS    expP4<>(SB), Y3, Y3 \
	VMULPS    Y0, Y3, Y3 \
	VADDPS    expP5<>(SB), Y3, Y3 \
	VMULPS    Y0, Y0, Y4 \
	VMULPS    Y4, Y3, Y3 \
	VADDPS    Y0, Y3, Y3 \
	VADDPS    expOne<>(SB), Y3, Y3 \
	VCVTPS2DQ Y2, Y2 \
	VPSLLD    $23, Y2, Y2 \
	VPADDD    Y2, Y3, Y3

// EXPADD adds exp(min(v, MaxFloat32) − top) of the eight values at off(SI)
// that are ≥ floor (Y14) into acc, top in Y15, MaxFloat32 in Y13. Masked
// lanes compute garbage and add +0.
#define EXPADD(off, acc) \
	VMOVUPS   off(SI), Y0 \
	VCMPPS    $0x1d, Y14, Y0, Y1 \
	VMINPS    Y13, Y0, Y0 \
	VSUBPS    Y15, Y0, Y0 \
	EXPPOLY \
	VANDPS    Y1, Y3, Y3 \
	VADDPS    Y3, acc, acc

// func sumExpAVX2(x *float32, n int, top, floor float32, lanes *[32]float32)
//
// Lanes 0–7 take values 32k+0..7, lanes 8–15 values 32k+8..15, and so on:
// value i goes to lane i%32, as in sumExpGeneric.
TEXT ·sumExpAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS top+16(FP), Y15
	VBROADCASTSS floor+20(FP), Y14
	VMOVUPS      expMaxF<>(SB), Y13
	MOVQ         lanes+24(FP), DI
	VMOVUPS      0(DI), Y8
	VMOVUPS      32(DI), Y9
	VMOVUPS      64(DI), Y10
	VMOVUPS      96(DI), Y11

sumexploop:
	EXPADD(0, Y8)
	EXPADD(32, Y9)
	EXPADD(64, Y10)
	EXPADD(96, Y11)
	ADDQ $128, SI
	SUBQ $32, CX
	JG   sumexploop

	VMOVUPS Y8, 0(DI)
	VMOVUPS Y9, 32(DI)
	VMOVUPS Y10, 64(DI)
	VMOVUPS Y11, 96(DI)
	VZEROUPPER
	RET

// func expIntoAVX2(dst, x *float32, n int, scale, top float32)
TEXT ·expIntoAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y15
	VBROADCASTSS top+28(FP), Y14
	VMOVUPS      expMinExp<>(SB), Y13

expintoloop:
	VMOVUPS (SI), Y0
	VMULPS  Y15, Y0, Y0
	VSUBPS  Y14, Y0, Y0
	VCMPPS  $0x1d, Y13, Y0, Y1 // d ≥ −87, false for NaN
	EXPPOLY
	VANDPS  Y1, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JG      expintoloop
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int, m *[8]float32)
//
// Four running maxima per lane, folded into m at the end. VMAXPS returns
// its second source when either is NaN: the running maximum is the second
// source, so NaN values are skipped.
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	MOVQ    m+16(FP), DI
	VMOVUPS (DI), Y8
	VMOVAPS Y8, Y9
	VMOVAPS Y8, Y10
	VMOVAPS Y8, Y11

maxloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMAXPS  Y8, Y0, Y8
	VMAXPS  Y9, Y1, Y9
	VMAXPS  Y10, Y2, Y10
	VMAXPS  Y11, Y3, Y11
	ADDQ    $128, SI
	SUBQ    $32, CX
	JG      maxloop

	VMAXPS  Y8, Y9, Y8
	VMAXPS  Y10, Y11, Y10
	VMAXPS  Y8, Y10, Y8
	VMOVUPS Y8, (DI)
	VZEROUPPER
	RET
