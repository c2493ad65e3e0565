package cpu

import (
	"math"
	"sync"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// Attention's compute, after the new keys and values are stored.
//
// Rows are cut into blocks: runs of consecutive rows of one slot (a
// prompt's positions), at most attnBlock rows. A job is one (block, KV
// head): it gathers that head's keys and values for positions
// 0..max position of the block into f32 scratch once, then scores every
// query head of the group for every row of the block against the keys with
// quant.MatMulF32 (register tiles instead of one short dot per position),
// and weights the values by the softmax with MatMulF32 again, over the
// values gathered transposed (one row per head dimension, one column per
// position).
//
// A row's result does not depend on the block it falls in: the key
// scratch is padded with zero rows to a multiple of 4 and the transposed
// values and the probabilities with zero columns to a multiple of 16, so
// every output comes out of the same tile kernel on the same lanes (the
// padding adds exact zeros), MatMulF32 computes each output the same way
// whatever else is in the call, and a row's probabilities beyond its own
// position are zero. So batching sessions or splitting a prompt differently
// changes no bit of the output.

// attnBlock bounds the rows sharing one gather; larger blocks compute more
// scores that causality then discards.
const attnBlock = 32

type attnJob struct{ lo, hi, kvh int }

// attnScratch is one worker's gathered keys, transposed values, queries,
// scores (then probabilities), outputs and one value row.
type attnScratch struct{ k, vt, q, s, o, row []float32 }

var attnPool = sync.Pool{New: func() any { return new(attnScratch) }}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func (d *Device) attend(out, qs []float32, c *kvCache, layer, heads int, seq []kernels.Seq) {
	cf := c.cfg
	hd, group := cf.HeadDim, heads/cf.KVHeads
	qd := heads * hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	var jobs []attnJob
	for lo := 0; lo < len(seq); {
		hi := lo + 1
		for hi < len(seq) && hi-lo < attnBlock && seq[hi].Slot == seq[lo].Slot && seq[hi].Pos > seq[hi-1].Pos {
			hi++
		}
		for kvh := 0; kvh < cf.KVHeads; kvh++ {
			jobs = append(jobs, attnJob{lo, hi, kvh})
		}
		lo = hi
	}
	d.parallel(len(jobs), 1, func(jlo, jhi int) {
		sc := attnPool.Get().(*attnScratch)
		defer attnPool.Put(sc)
		for _, jb := range jobs[jlo:jhi] {
			slot := int(seq[jb.lo].Slot)
			nmax := 0
			for _, s := range seq[jb.lo:jb.hi] {
				nmax = max(nmax, int(s.Pos)+1)
			}
			npad := (nmax + 3) &^ 3   // key rows
			vpad := (nmax + 15) &^ 15 // value columns
			sc.k, sc.vt, sc.row = grow(sc.k, npad*hd), grow(sc.vt, hd*vpad), grow(sc.row, hd)
			clear(sc.vt)
			for p := 0; p < nmax; p++ {
				o := c.off(layer, slot, p, jb.kvh)
				c.rowF32(c.k[o:o+c.rowBytes], sc.k[p*hd:(p+1)*hd])
				c.rowF32(c.v[o:o+c.rowBytes], sc.row)
				for i, x := range sc.row {
					sc.vt[i*vpad+p] = x
				}
			}
			clear(sc.k[nmax*hd:])
			// Queries of the group's heads for every row, back to back.
			nq := (jb.hi - jb.lo) * group
			sc.q = grow(sc.q, nq*hd)
			for r := jb.lo; r < jb.hi; r++ {
				src := qs[r*qd+jb.kvh*group*hd : r*qd+(jb.kvh+1)*group*hd]
				copy(sc.q[(r-jb.lo)*group*hd:], src)
			}
			stride := vpad // ≥ npad
			sc.s = grow(sc.s, nq*stride)
			// Sizes are consistent by construction, so these cannot fail.
			_ = quant.MatMulF32(sc.k[:npad*hd], sc.q, hd, sc.s, stride)
			for i := 0; i < nq; i++ {
				n := int(seq[jb.lo+i/group].Pos) + 1
				scores := sc.s[i*stride : i*stride+n]
				maxScore := float32(math.Inf(-1))
				for p := range scores {
					scores[p] *= scale
					maxScore = max(maxScore, scores[p])
				}
				var sum float64
				for p := range scores {
					e := math.Exp(float64(scores[p] - maxScore))
					scores[p] = float32(e)
					sum += e
				}
				inv := float32(1 / sum)
				for p := range scores {
					scores[p] *= inv
				}
				clear(sc.s[i*stride+n : i*stride+vpad])
			}
			// Probabilities (one row of vpad per query) times the values,
			// then each query row's output to its head's slice of out.
			sc.o = grow(sc.o, nq*hd)
			_ = quant.MatMulF32(sc.vt, sc.s[:nq*vpad], vpad, sc.o, hd)
			for i := 0; i < nq; i++ {
				r, h := jb.lo+i/group, jb.kvh*group+i%group
				copy(out[r*qd+h*hd:r*qd+(h+1)*hd], sc.o[i*hd:(i+1)*hd])
			}
		}
	})
}

// rowF32 converts one cached row to f32 (a copy for F32 caches). The row
// sizes were fixed by NewKVCache, so the unchecked form is safe.
func (c *kvCache) rowF32(src []byte, dst []float32) {
	if c.cfg.Type == quant.F32 {
		copy(dst, f32View(src))
		return
	}
	quant.DequantizeRow(c.cfg.Type, src, dst)
}
