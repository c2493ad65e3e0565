package webgpu

import (
	"encoding/binary"
	"fmt"
)

// The parameter arena. Every dispatch reads its parameters (sizes, row
// lists, positions) from a window of one storage buffer at an offset baked
// into its bind group. Between two fences (reads, after which the GPU is
// idle) the arena only grows, and a dispatch whose words are already in it
// shares their offset: in a decoded token every layer's dispatches repeat
// the first layer's words (the same shapes, the same position), so a token
// adds about ten blocks, all in its first submit, and offsets come out the
// same every token (bind groups stay cached).
//
// Writing is what this is for. gogpu's native Queue.WriteBuffer waits for
// every submitted command (its staging copy calls the Vulkan queue's
// waitForGPU), so each write between two submits of a token left the GPU
// idle. A flush writes only the bytes that differ from what the buffer
// already holds (shadow): after the first token, a token writes just its
// position-dependent blocks, in its first submit, when the GPU is idle
// anyway, and its other submits write nothing.

// param returns the arena offset of p's words (at least one word: a shader
// binds a non-empty window), adding them unless already there.
func (r *recorder) param(p []uint32) (int, error) {
	if len(p)*4 > paramWindow {
		return 0, fmt.Errorf("too many rows in one call (parameters need %d bytes, at most %d)", len(p)*4, paramWindow)
	}
	if len(p) == 0 {
		p = []uint32{0}
	}
	r.block = r.block[:0]
	for _, v := range p {
		r.block = binary.LittleEndian.AppendUint32(r.block, v)
	}
	if off, ok := r.blocks[string(r.block)]; ok {
		return off, nil
	}
	align := int(r.d.paramAlign)
	off := (len(r.arena) + align - 1) / align * align
	if off+len(r.block) > paramArena {
		// Full: submit what reads the arena and start it afresh. Queue
		// writes are ordered after earlier submits, so rewriting offsets
		// that work read is safe.
		if err := r.flush(); err != nil {
			return 0, err
		}
		r.resetArena()
		off = 0
	}
	for len(r.arena) < off {
		r.arena = append(r.arena, 0)
	}
	r.arena = append(r.arena, r.block...)
	r.blocks[string(r.block)] = off
	return off, nil
}

// resetArena empties the arena (after a fence, or when full).
func (r *recorder) resetArena() {
	r.arena = r.arena[:0]
	r.written = 0
	clear(r.blocks)
}

// writeParams writes the arena's bytes added since the last flush, or the
// part of them that differs from what the buffer holds.
func (r *recorder) writeParams() error {
	lo, hi := r.written, len(r.arena)
	r.written = hi
	for lo < hi && lo < len(r.shadow) && r.arena[lo] == r.shadow[lo] {
		lo++
	}
	for hi > lo && hi <= len(r.shadow) && r.arena[hi-1] == r.shadow[hi-1] {
		hi--
	}
	if lo >= hi {
		return nil
	}
	lo, hi = lo&^3, (hi+3)&^3
	if err := r.d.queue.WriteBuffer(r.params, uint64(lo), r.arena[lo:hi]); err != nil {
		return err
	}
	if len(r.shadow) < hi {
		r.shadow = append(r.shadow, make([]byte, hi-len(r.shadow))...)
	}
	copy(r.shadow[lo:hi], r.arena[lo:hi])
	r.stats.ParamWrites++
	r.stats.ParamBytes += hi - lo
	return nil
}
