package webgpu

import (
	"encoding/binary"

	"github.com/tabshard/tabshard/quant"
)

// The tiled layout (F16, Q8_0, Q4_0, Q4_K) serves the decode matvec
// (shaders/matvec_tiled.wgsl), which gives each weight row its own thread.
// A row's quant bytes are cut into 16-byte chunks and stored chunk-major:
// chunk c of every row of the window, then chunk c+1, so that the 32 lanes
// of a warp (32 consecutive rows) reading "chunk c of my row" load 512
// contiguous bytes, all lanes read the same x (a broadcast), and all
// workgroups sweep memory together. (Rows side by side in 32-row tiles put
// the workgroups' reads a power-of-two stride apart: with few rows and long
// columns they all hit the same memory channels, 0.07 of copy bandwidth on
// an H200 at 4096×65536.)
//
//	vec4 index of chunk c of row r:  c·R + r
//
// R is the window's rows rounded up to a multiple of 32 (the padding rows
// are zero; kernels read but never write them); it is the row stride rs
// the shaders receive. Chunks per format:
//
//	F16   8 weights each (the GGUF row bytes cut in 16).
//	Q4_K  the GGUF row bytes cut in 16: a 144-byte block is 9 chunks, the
//	      header (d|dmin, 12 bytes of scales) then 8 of qs.
//	Q8_0  the quants only, 16 per chunk (2 per block); the f16 scales
//	      follow at word so, stored the same way: half index b·R + r.
//	Q4_0  the 16 quant bytes of a block (1 chunk per block); scales as Q8_0.
const tileRows = 32

// tiled reports whether matrices of t use the tiled layout.
func tiled(t quant.Type) bool {
	switch t {
	case quant.F16, quant.Q8_0, quant.Q4_0, quant.Q4_K:
		return true
	}
	return false
}

// repackTiled converts n GGUF rows to the tiled layout and returns it with
// the word offset of the scale array (Q8_0, Q4_0; 0 otherwise).
func repackTiled(t quant.Type, cols, n int, src []byte) ([]byte, int) {
	rb := len(src) / n
	R := (n + tileRows - 1) / tileRows * tileRows
	blocks := cols / 32
	var qpr int // quant bytes per row
	switch t {
	case quant.Q8_0:
		qpr = blocks * 32
	case quant.Q4_0:
		qpr = blocks * 16
	default:
		qpr = rb
	}
	cpr := qpr / 16
	so := cpr * R * 4
	size := so * 4
	if t == quant.Q8_0 || t == quant.Q4_0 {
		size += (blocks*R + 1) / 2 * 4
	}
	out := make([]byte, size)
	for r := 0; r < n; r++ {
		row := src[r*rb : (r+1)*rb]
		switch t {
		case quant.Q8_0, quant.Q4_0:
			bb := t.BlockBytes()
			per := (bb - 2) / 16 // chunks per block
			for b := 0; b < blocks; b++ {
				blk := row[b*bb : (b+1)*bb]
				for k := 0; k < per; k++ {
					copy(out[((b*per+k)*R+r)*16:], blk[2+16*k:2+16*(k+1)])
				}
				binary.LittleEndian.PutUint16(out[so*4+2*(b*R+r):], binary.LittleEndian.Uint16(blk[:2]))
			}
		default:
			for c := 0; c < cpr; c++ {
				copy(out[(c*R+r)*16:], row[16*c:16*(c+1)])
			}
		}
	}
	return out, so
}
