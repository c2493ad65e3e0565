package cpu

import (
	"fmt"
	"math"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// kvCache stores one row of HeadDim values per (layer, slot, position, head)
// for keys and for values, each row in the cache's format.
type kvCache struct {
	cfg      kernels.KVConfig
	rowBytes int
	k, v     []byte
}

func (c *kvCache) Config() kernels.KVConfig { return c.cfg }
func (c *kvCache) Bytes() int64             { return int64(len(c.k) + len(c.v)) }
func (c *kvCache) Release()                 { c.k, c.v = nil, nil }

// KVFormats are the cache formats both devices implement.
var kvFormats = map[quant.Type]bool{quant.F32: true, quant.F16: true, quant.Q8_0: true, quant.Q4_0: true}

func (d *Device) NewKVCache(cfg kernels.KVConfig) (kernels.KVCache, error) {
	if d.closed {
		return nil, errClosed
	}
	if !kvFormats[cfg.Type] {
		return nil, fmt.Errorf("cpu: KV cache format %s is not supported (F32, F16, Q8_0, Q4_0)", cfg.Type)
	}
	if cfg.Layers <= 0 || cfg.Slots <= 0 || cfg.Context <= 0 || cfg.KVHeads <= 0 || cfg.HeadDim <= 0 {
		return nil, fmt.Errorf("cpu: KV cache config %+v has a non-positive size", cfg)
	}
	rb, err := cfg.Type.RowBytes(cfg.HeadDim)
	if err != nil {
		return nil, fmt.Errorf("cpu: KV cache: %w", err)
	}
	// Multiply step by step against the limit: the plain product of five
	// sizes can wrap int64 and pass the check with a small (wrong) size.
	const limit = 1 << 40
	n := int64(rb)
	for _, f := range []int{cfg.Layers, cfg.Slots, cfg.Context, cfg.KVHeads} {
		if n > limit/int64(f) {
			return nil, fmt.Errorf("cpu: KV cache config %+v needs more than %d bytes", cfg, 2*int64(limit))
		}
		n *= int64(f)
	}
	return &kvCache{cfg: cfg, rowBytes: rb, k: make([]byte, n), v: make([]byte, n)}, nil
}

// off is the byte offset of the row for (layer, slot, pos, head).
func (c *kvCache) off(layer, slot, pos, head int) int {
	cf := c.cfg
	return (((layer*cf.Slots+slot)*cf.Context+pos)*cf.KVHeads + head) * c.rowBytes
}

func (d *Device) Attention(dst, q, k, v kernels.Buffer, cache kernels.KVCache, layer, heads int, seq []kernels.Seq) error {
	c, ok := cache.(*kvCache)
	if !ok || c == nil || c.k == nil {
		return fmt.Errorf("cpu: Attention cache is not a live CPU KV cache")
	}
	cf := c.cfg
	if layer < 0 || layer >= cf.Layers {
		return fmt.Errorf("cpu: Attention layer %d outside [0,%d)", layer, cf.Layers)
	}
	if heads <= 0 || heads%cf.KVHeads != 0 {
		return fmt.Errorf("cpu: Attention: %d query heads do not group over %d KV heads", heads, cf.KVHeads)
	}
	rows, hd := len(seq), cf.HeadDim
	qd, kd := heads*hd, cf.KVHeads*hd
	qs, err := d.buf(q, rows*qd, "Attention q")
	if err != nil {
		return err
	}
	ks, err := d.buf(k, rows*kd, "Attention k")
	if err != nil {
		return err
	}
	vs, err := d.buf(v, rows*kd, "Attention v")
	if err != nil {
		return err
	}
	out, err := d.buf(dst, rows*qd, "Attention dst")
	if err != nil {
		return err
	}
	for _, s := range seq {
		if s.Slot < 0 || int(s.Slot) >= cf.Slots || s.Pos < 0 || int(s.Pos) >= cf.Context {
			return fmt.Errorf("cpu: Attention: slot %d position %d outside the cache (%d slots × %d positions)", s.Slot, s.Pos, cf.Slots, cf.Context)
		}
	}
	// Store every row first: a row attends to earlier rows of its batch.
	for r, s := range seq {
		for h := 0; h < cf.KVHeads; h++ {
			o := c.off(layer, int(s.Slot), int(s.Pos), h)
			src := r*kd + h*hd
			if err := quant.Quantize(cf.Type, ks[src:src+hd], c.k[o:o+c.rowBytes]); err != nil {
				return fmt.Errorf("cpu: Attention: %w", err)
			}
			if err := quant.Quantize(cf.Type, vs[src:src+hd], c.v[o:o+c.rowBytes]); err != nil {
				return fmt.Errorf("cpu: Attention: %w", err)
			}
		}
	}
	d.attend(out, qs, c, layer, heads, seq)
	return nil
}

func (d *Device) RoPE(x kernels.Buffer, heads, headDim int, seq []kernels.Seq, theta float32) error {
	if heads <= 0 || headDim <= 0 || headDim%2 != 0 {
		return fmt.Errorf("cpu: RoPE needs positive heads and an even head width, got %d×%d", heads, headDim)
	}
	if !(theta > 0) {
		return fmt.Errorf("cpu: RoPE theta must be positive, got %v", theta)
	}
	w := heads * headDim
	xs, err := d.buf(x, len(seq)*w, "RoPE x")
	if err != nil {
		return err
	}
	for _, s := range seq {
		if s.Pos < 0 {
			return fmt.Errorf("cpu: RoPE: negative position %d", s.Pos)
		}
	}
	rotate(xs, heads, headDim, seq, d.rope.Freqs(headDim, theta))
	return nil
}

// rotate is RoPE's arithmetic over len(seq) rows of heads×headDim values
// (the positions already checked), shared with FusedMatMul's epilogue.
func rotate(xs []float32, heads, headDim int, seq []kernels.Seq, freqs []float32) {
	w, half := heads*headDim, headDim/2
	for r, s := range seq {
		for i := 0; i < half; i++ {
			angle := float64(float32(float64(s.Pos) * float64(freqs[i])))
			cos, sin := float32(math.Cos(angle)), float32(math.Sin(angle))
			for h := 0; h < heads; h++ {
				j := r*w + h*headDim + 2*i
				a, b := xs[j], xs[j+1]
				xs[j] = a*cos - b*sin
				xs[j+1] = a*sin + b*cos
			}
		}
	}
}
