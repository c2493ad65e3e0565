package webgpu

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tabshard/tabshard/quant"
)

var tunedTiled = map[string]TiledShape{} // by adapter name, under tunedMu

// tuneTiled times a 1024×4096 Q4_K matrix×vector on the tiled layout with
// each candidate and keeps the fastest. On SwiftShader (browser tabs without
// a GPU) the winner has changed with the kernels: the classic kernel once
// won (17 ms against 26 and 99 ms); in the sixth session one slice did
// (13.1 ms against 16.3 for the classic kernel and 57.5 for 8 slices,
// TestBrowserConformance's log). On a GPU that size
// is all launch overhead (H100: 21–23 µs whichever kernel, so noise chose),
// so when the first round is that fast a second one times 16384 rows, where
// the kernels differ (BENCH.md).
func (d *Device) tuneTiled() (TiledShape, error) {
	tunedMu.Lock()
	defer tunedMu.Unlock()
	if s, ok := tunedTiled[d.name]; ok {
		return s, nil
	}
	common, err := snippet("formats.wgsl", "common", nil)
	if err != nil {
		return TiledShape{}, err
	}
	deq, err := snippet("formats.wgsl", "Q4_K", nil)
	if err != nil {
		return TiledShape{}, err
	}
	ks := make([]*kernel, len(tiledCandidates))
	defer func() {
		for _, k := range ks {
			if k != nil {
				d.dropKernel(k)
			}
		}
	}()
	for i, c := range tiledCandidates {
		if c.On() {
			ks[i], err = d.tiledKernel(quant.Q4_K, c, variant{}, common, deq)
		} else {
			ks[i], err = d.classicKernel(d.kern.shape, common, deq)
		}
		if err != nil {
			return TiledShape{}, err
		}
	}
	best, bestT, err := d.timeTiledCandidates(ks, 1024)
	if err != nil {
		return TiledShape{}, err
	}
	if bestT < time.Millisecond {
		if best, _, err = d.timeTiledCandidates(ks, 16384); err != nil {
			return TiledShape{}, err
		}
	}
	tunedTiled[d.name] = best
	return best, nil
}

// timeTiledCandidates times each candidate (ks[i] compiled for
// tiledCandidates[i]) on a rows×4096 Q4_K matvec.
func (d *Device) timeTiledCandidates(ks []*kernel, rows int) (TiledShape, time.Duration, error) {
	const cols = 4096
	rb, _ := quant.Q4_K.RowBytes(cols)
	data := make([]byte, rows*rb)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for b := 0; b < len(data); b += quant.Q4_K.BlockBytes() {
		data[b], data[b+1], data[b+2], data[b+3] = 0, 0x3c, 0, 0x3c // d = dmin = 1: no NaN
	}
	packed, _ := repackTiled(quant.Q4_K, cols, rows, data)
	sp, done, err := d.tuneBuffers(packed, rows, cols)
	if err != nil {
		return TiledShape{}, 0, err
	}
	defer done()
	best, bestT := tiledCandidates[0], time.Duration(1<<62)
	for i, c := range tiledCandidates {
		p := []uint32{uint32(rows), cols / 256, uint32(rows), 0, 0, 0, 0, 0, 0, uint32(rows), uint32(rows), 0, cols, 0}
		groups := uint32(rows / c.rows())
		bind := d.rec.tiledSpans(sp[0], sp[1], span{}, []span{sp[2]})
		if !c.On() {
			p = []uint32{uint32(rows), cols / 32, uint32(rows), 0, 1, uint32(rows), 0, cols / 4}
			groups = uint32(ceilDiv(rows, d.kern.shape.rowsPerGroup(1)))
			bind = sp
		}
		t, err := d.timeKernel(ks[i], p, bind, groups, sp[2])
		if err != nil {
			return TiledShape{}, 0, fmt.Errorf("webgpu: timing tiled matvec %+v: %w", c, err)
		}
		d.tuneLog = append(d.tuneLog, fmt.Sprintf("tiled %+v, %d rows: %v", c, rows, t))
		if t < bestT {
			best, bestT = c, t
		}
	}
	return best, bestT, nil
}

// timeKernel is the best of 3 rounds of 8 dispatches (after a warm-up round).
// out is the output, read back as the fence.
func (d *Device) timeKernel(k *kernel, p []uint32, sp []span, groups uint32, out span) (time.Duration, error) {
	best := time.Duration(1 << 62)
	for round := 0; round < 4; round++ {
		start := time.Now()
		for i := 0; i < 8; i++ {
			if err := d.rec.dispatch(k, p, sp, groups, 1, 1); err != nil {
				return 0, err
			}
		}
		if _, err := d.readBytes(out.buf, 0, 4); err != nil {
			return 0, err
		}
		if el := time.Since(start); round > 0 && el < best {
			best = el
		}
	}
	return best / 8, nil
}
