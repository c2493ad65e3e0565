package cpu

import (
	"sync"

	"github.com/tabshard/tabshard/quant"
)

// Batched matmul (rows > 1): quant.MatMulQ dequantizes the weights a panel
// of rows at a time into f32 scratch, once per call, and multiplies each
// panel with every activation row in register tiles (quant.MatMulF32). Dequantizing
// costs about as much as one single-row pass over the weights, and the
// tiles reuse each loaded vector three or four times, so eight rows cost a
// few single-row passes rather than eight.

// panelBytes bounds a panel's f32 scratch so it stays in L1 (48 KiB on
// the machines measured) beside the activation rows streaming past it;
// 24 KiB measured better than 12 or 48 for 8 and 64 rows.
const panelBytes = 24 << 10

// panelRows is how many weight rows of width cols one panel holds: a
// multiple of 4 (the tile height), at least 4, at most 64.
func panelRows(cols int) int {
	n := panelBytes / (4 * cols)
	return min(64, max(4, n&^3))
}

// scratchPool holds panel buffers between calls, so a decode step of a
// batch allocates nothing once warm.
var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

func (d *Device) matMulBatch(m *matrix, in, out []float32, rows int) {
	pr := panelRows(m.cols)
	panels := (m.rows + pr - 1) / pr
	x := in[:rows*m.cols]
	d.parallel(panels, 1, func(lo, hi int) {
		sp := scratchPool.Get().(*[]float32)
		if cap(*sp) < pr*m.cols {
			*sp = make([]float32, pr*m.cols)
		}
		scratch := (*sp)[:pr*m.cols]
		for p := lo; p < hi; p++ {
			o0, o1 := p*pr, min((p+1)*pr, m.rows)
			// Sizes were validated at upload and by MatMul, so this cannot fail.
			_ = quant.MatMulQ(m.t, m.data[o0*m.rowBytes:o1*m.rowBytes], x, m.cols, out[o0:], m.rows, scratch)
		}
		scratchPool.Put(sp)
	})
}
