package webgpu

import (
	"fmt"
	"math"

	"github.com/gogpu/wgpu"
	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// kvKey identifies the attention pipelines of one cache format.
type kvKey struct {
	t  quant.Type
	hd int
}

type attnKernels struct{ store, attend *kernel }

func (a *attnKernels) destroy() { a.store.destroy(); a.attend.destroy() }

// KVCache holds keys and values per layer in windows of whole slots; layout
// in shaders/kvformats.wgsl.
type KVCache struct {
	d        *Device
	cfg      kernels.KVConfig
	rw       int // words per vector
	perSlot  uint64
	winSlots int
	k, v     [][]window // [layer][window]
	ak       *attnKernels
	bytes    int64
	released bool
}

// Config returns the configuration it was made with.
func (c *KVCache) Config() kernels.KVConfig { return c.cfg }

// Bytes is the device memory it holds.
func (c *KVCache) Bytes() int64 { return c.bytes }

// Release frees the GPU memory.
func (c *KVCache) Release() {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.released {
		return
	}
	c.released = true
	c.releaseLocked()
}

func (c *KVCache) releaseLocked() {
	for _, l := range append(c.k, c.v...) {
		for _, w := range l {
			c.d.releaseGPU(w.buf, w.id)
		}
	}
	c.k, c.v = nil, nil
}

// kvRowWords is the words of one cached vector (shaders/kvformats.wgsl),
// padded to a multiple of 4 so that attention reads keys as vec4<u32>.
func kvRowWords(t quant.Type, hd int) (int, error) {
	var n int
	switch t {
	case quant.F32:
		n = hd
	case quant.F16:
		n = hd / 2
	case quant.Q8_0, quant.Q4_0:
		if hd%32 != 0 {
			return 0, fmt.Errorf("webgpu: %v KV cache needs HeadDim a multiple of 32, got %d", t, hd)
		}
		n = hd/4 + hd/32
		if t == quant.Q4_0 {
			n = hd/8 + hd/32
		}
	default:
		return 0, fmt.Errorf("webgpu: KV cache type %v is not supported (F32, F16, Q8_0, Q4_0)", t)
	}
	return (n + 3) / 4 * 4, nil
}

// attnFor compiles (once per format and head width) the store and attention
// pipelines; NewKVCache calls it, at model load.
func (d *Device) attnFor(t quant.Type, hd int) (*attnKernels, error) {
	key := kvKey{t, hd}
	if a, ok := d.kvKernel[key]; ok {
		return a, nil
	}
	rw, err := kvRowWords(t, hd)
	if err != nil {
		return nil, err
	}
	// QV: the vec4s of q attention keeps (zero past HD), enough for every
	// format's padded row.
	qv := (hd + 31) / 32 * 8
	data := struct{ HD, RW, QV int }{hd, rw, qv}
	kvc, err := snippet("kvformats.wgsl", t.String()+"_c", data)
	if err != nil {
		return nil, err
	}
	read, err := snippet("kvformats.wgsl", t.String(), data)
	if err != nil {
		return nil, err
	}
	store, err := snippet("kvformats.wgsl", t.String()+"_store", data)
	if err != nil {
		return nil, err
	}
	type src struct {
		HD, QV  int
		KVC, KV string
		Us      []int // the value loop's unrolled positions
	}
	ss, err := render("kvstore.wgsl", src{hd, qv, kvc, store, nil})
	if err != nil {
		return nil, err
	}
	as, err := render("attention.wgsl", src{hd, qv, kvc, read, []int{0, 1, 2, 3, 4, 5, 6, 7}})
	if err != nil {
		return nil, err
	}
	a := &attnKernels{}
	if a.store, err = d.newKernel(fmt.Sprintf("kvstore_%s_%d", t, hd), ss, true, true, false, false); err != nil {
		return nil, err
	}
	if a.attend, err = d.newKernel(fmt.Sprintf("attention_%s_%d", t, hd), as, true, true, true, false); err != nil {
		a.store.destroy()
		return nil, err
	}
	d.kvKernel[key] = a
	return a, nil
}

// NewKVCache allocates a cache and compiles its attention pipelines.
func (d *Device) NewKVCache(cfg kernels.KVConfig) (kernels.KVCache, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return nil, err
	}
	if cfg.Layers <= 0 || cfg.Slots <= 0 || cfg.Context <= 0 || cfg.KVHeads <= 0 || cfg.HeadDim <= 0 || cfg.HeadDim%2 != 0 {
		return nil, fmt.Errorf("webgpu: NewKVCache: bad config %+v", cfg)
	}
	if cfg.HeadDim > 1024 {
		return nil, fmt.Errorf("webgpu: NewKVCache: HeadDim %d exceeds 1024", cfg.HeadDim)
	}
	rw, err := kvRowWords(cfg.Type, cfg.HeadDim)
	if err != nil {
		return nil, err
	}
	ak, err := d.attnFor(cfg.Type, cfg.HeadDim)
	if err != nil {
		return nil, err
	}
	c := &KVCache{d: d, cfg: cfg, rw: rw, ak: ak}
	c.perSlot = uint64(cfg.Context) * uint64(cfg.KVHeads) * uint64(rw) * 4
	if c.perSlot > d.bindLimit {
		return nil, fmt.Errorf("webgpu: NewKVCache: one slot of one layer needs %d bytes, over the %d-byte binding limit (reduce Context)", c.perSlot, d.bindLimit)
	}
	c.winSlots = int(min(uint64(cfg.Slots), d.bindLimit/c.perSlot))
	c.k = make([][]window, cfg.Layers)
	c.v = make([][]window, cfg.Layers)
	for l := 0; l < cfg.Layers; l++ {
		for s0 := 0; s0 < cfg.Slots; s0 += c.winSlots {
			n := min(c.winSlots, cfg.Slots-s0)
			for _, dst := range []*[][]window{&c.k, &c.v} {
				buf, err := d.createBuffer(fmt.Sprintf("kv layer %d slots %d+%d", l, s0, n), uint64(n)*c.perSlot, wgpu.BufferUsageStorage|wgpu.BufferUsageCopyDst)
				if err != nil {
					c.releaseLocked()
					return nil, err
				}
				w := window{buf: buf, id: d.track(buf), row0: s0, rows: n}
				// Zero it: positions never stored then read as 0, not NaN.
				if err := d.rec.copyWords(span{}, w.span(), buf.Size()/4); err != nil {
					d.releaseGPU(buf, w.id)
					c.releaseLocked()
					return nil, err
				}
				(*dst)[l] = append((*dst)[l], w)
				c.bytes += int64(buf.Size())
			}
		}
	}
	return c, nil
}

// Attention stores k and v for each row into the cache, then attends.
func (d *Device) Attention(dst, q, k, v kernels.Buffer, cache kernels.KVCache, layer, heads int, seq []kernels.Seq) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	c, ok := cache.(*KVCache)
	if !ok || c == nil || c.d != d {
		return fmt.Errorf("webgpu: Attention: cache is not a KV cache of this device (%T)", cache)
	}
	if c.released {
		return fmt.Errorf("webgpu: Attention: cache was released")
	}
	cfg := c.cfg
	if layer < 0 || layer >= cfg.Layers {
		return fmt.Errorf("webgpu: Attention: layer %d outside [0, %d)", layer, cfg.Layers)
	}
	if heads <= 0 || heads%cfg.KVHeads != 0 {
		return fmt.Errorf("webgpu: Attention: %d heads is not a multiple of %d KV heads", heads, cfg.KVHeads)
	}
	rows := len(seq)
	if rows == 0 {
		return nil
	}
	hd := cfg.HeadDim
	bo, err := d.own("Attention", "dst", dst, rows*heads*hd)
	if err != nil {
		return err
	}
	bq, err := d.own("Attention", "q", q, rows*heads*hd)
	if err != nil {
		return err
	}
	bk, err := d.own("Attention", "k", k, rows*cfg.KVHeads*hd)
	if err != nil {
		return err
	}
	bv, err := d.own("Attention", "v", v, rows*cfg.KVHeads*hd)
	if err != nil {
		return err
	}
	for r, s := range seq {
		if s.Slot < 0 || int(s.Slot) >= cfg.Slots || s.Pos < 0 || int(s.Pos) >= cfg.Context {
			return fmt.Errorf("webgpu: Attention: seq[%d] = %+v outside %d slots × %d positions", r, s, cfg.Slots, cfg.Context)
		}
	}
	sp, err := d.unalias(bo, bq, bk, bv)
	if err != nil {
		return err
	}
	scale := math.Float32bits(float32(1 / math.Sqrt(float64(hd))))
	for w := range c.k[layer] {
		kw, vw := c.k[layer][w], c.v[layer][w]
		var trip []uint32
		for r, s := range seq {
			if int(s.Slot) >= kw.row0 && int(s.Slot) < kw.row0+kw.rows {
				trip = append(trip, uint32(r), uint32(s.Slot), uint32(s.Pos))
			}
		}
		for len(trip) > 0 {
			part := trip[:min(len(trip), 3*4096)]
			trip = trip[len(part):]
			n := uint32(len(part) / 3)
			ps := append([]uint32{n, uint32(cfg.Context), uint32(cfg.KVHeads), uint32(kw.row0)}, part...)
			if err := d.rec.dispatch(c.ak.store, ps, []span{sp[1], sp[2], kw.span(), vw.span()}, n, uint32(cfg.KVHeads), 2); err != nil {
				return err
			}
		}
	}
	for w := range c.k[layer] {
		kw, vw := c.k[layer][w], c.v[layer][w]
		var trip []uint32
		for r, s := range seq {
			if int(s.Slot) >= kw.row0 && int(s.Slot) < kw.row0+kw.rows {
				trip = append(trip, uint32(r), uint32(s.Slot), uint32(s.Pos))
			}
		}
		for len(trip) > 0 {
			part := trip[:min(len(trip), 3*4096)]
			trip = trip[len(part):]
			if err := d.attend(c, kw, vw, part, sp[0], bo.whole(), heads, scale); err != nil {
				return err
			}
		}
	}
	return nil
}

// Split attention (attention.wgsl's partials, merged by attncombine.wgsl)
// serves calls of fewer than splitWorkgroups rows×heads, each split
// covering at least splitPositions positions, at most maxSplits of them.
const (
	splitWorkgroups = 256
	splitPositions  = 256
	maxSplits       = 32
)

// attend records attention for the (batch row, slot, pos) triples of one
// cache window, split over positions when few rows leave the GPU idle.
func (d *Device) attend(c *KVCache, kw, vw window, trip []uint32, q, out span, heads int, scale uint32) error {
	cfg, hd := c.cfg, c.cfg.HeadDim
	n := len(trip) / 3
	last := 0
	for i := 2; i < len(trip); i += 3 {
		last = max(last, int(trip[i]))
	}
	splits, chunk := 1, last+1
	if n*heads < splitWorkgroups && last >= splitPositions {
		splits = min(maxSplits, ceilDiv(last+1, splitPositions))
		chunk = ceilDiv(ceilDiv(last+1, splits), splitPositions) * splitPositions
		splits = ceilDiv(last+1, chunk)
	}
	dst := out
	if splits > 1 {
		// Sized for the most splits, so that it does not grow (which waits
		// for the GPU) as the history does.
		var err error
		if dst, err = d.rec.scratchSpan(scratchAttention, uint64(n*heads*maxSplits*(hd+2)*4)); err != nil {
			return err
		}
	}
	pa := append([]uint32{uint32(n), uint32(cfg.Context), uint32(heads), uint32(cfg.KVHeads), uint32(heads * hd), scale, uint32(kw.row0),
		uint32(splits), uint32(chunk)}, trip...)
	if err := d.rec.dispatch(c.ak.attend, pa, []span{q, kw.span(), vw.span(), dst}, uint32(n), uint32(heads), uint32(splits)); err != nil {
		return err
	}
	if splits == 1 {
		return nil
	}
	pc := []uint32{uint32(n), uint32(heads), uint32(splits), uint32(hd), uint32(heads * hd)}
	for i := 0; i < len(trip); i += 3 {
		pc = append(pc, trip[i])
	}
	return d.rec.dispatch(d.kern.combine, pc, []span{dst, out}, uint32(n), uint32(heads), 1)
}
