package webgpu

import (
	"fmt"
	"math"
	"time"

	"github.com/gogpu/wgpu"
)

const (
	// paramWindow is what one dispatch may read of the parameter arena
	// (16384 u32: sizes plus per-row lists for batches of up to ~5000 rows).
	paramWindow = 64 << 10
	// paramArena is the arena between fences (params.go); a full arena
	// forces a submit and starts afresh.
	paramArena = 4 << 20
	// DefaultSubmitEvery is how many recorded commands go out per submit:
	// submitting as we go lets the GPU run while the CPU records the rest of
	// a token, instead of idling until the token's Read.
	DefaultSubmitEvery = 64
	// firstSubmit is how many commands go out in the first submit after a
	// fence (a Read): the GPU sits idle from the fence until that submit,
	// so it goes out early (~4 µs of recording per command), and the CPU
	// records the next batch while the GPU runs it.
	firstSubmit = 16
)

// span is a range of one GPU buffer bound to a shader.
type span struct {
	buf  *wgpu.Buffer
	id   uint64
	off  uint64
	size uint64
}

type bgKey struct {
	kernel int
	poff   int // parameter offset (bound statically: see dispatch)
	n      int
	spans  [6]struct{ id, off, size uint64 }
}

// recorder batches dispatches into one command encoder until flush submits
// them; their parameters go to one arena (params.go).
type recorder struct {
	d       *Device
	params  *wgpu.Buffer
	arena   []byte         // parameter words since the last fence
	written int            // arena bytes handed to the GPU (or found there)
	shadow  []byte         // what params holds, as far as written
	blocks  map[string]int // arena offset of each block of words (as bytes)
	block   []byte         // param's scratch: the block being looked up
	enc     *wgpu.CommandEncoder
	pass    *wgpu.ComputePassEncoder
	count   int
	groups  map[bgKey]*wgpu.BindGroup
	scratch [scratchSlots]scratchBuf
	// dummy is bound where a shader ignores a read binding, wr where it
	// ignores writable ones (one each: a buffer may not be bound writable
	// twice, or writable and read-only, in one dispatch).
	dummy *wgpu.Buffer
	dumID uint64
	wr    [2]scratchBuf
	// copyUse records how buffers were used by copies in the open encoder:
	// gogpu rejects one encoder that copies both from and into a buffer.
	copyUse map[*wgpu.Buffer]bool // true: copy source, false: destination
	stats   RecordStats
	timing  bool // time the stats' durations (off until ResetRecordStats)
}

// now and since read the clock only while timing: in a browser tab every
// clock read is a call out to JavaScript, twice per dispatch.
func (r *recorder) now() time.Time {
	if !r.timing {
		return time.Time{}
	}
	return time.Now()
}

func (r *recorder) since(t time.Time) time.Duration {
	if !r.timing {
		return 0
	}
	return time.Since(t)
}

// RecordStats splits the CPU time spent recording and submitting work
// (benchmarks print it to tell CPU-bound from GPU-bound decoding).
type RecordStats struct {
	Dispatches, Submits, BindGroups int
	// Encode: SetPipeline/SetBindGroup/Dispatch; BindGroup: creating bind
	// groups on a cache miss; Finish: ending passes and encoders; Params:
	// writing the parameter arena (natively this waits for the GPU to
	// finish all submitted work); Submit: queue submits.
	Encode, BindGroup, Finish, Params, Submit time.Duration
	// ParamWrites and ParamBytes count the arena's writes and their bytes.
	ParamWrites, ParamBytes int
}

// RecordStats returns the counters since the last ResetRecordStats.
func (d *Device) RecordStats() RecordStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec.stats
}

// ResetRecordStats zeroes the counters and starts timing (the durations
// stay zero until the first call).
func (d *Device) ResetRecordStats() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rec.stats = RecordStats{}
	d.rec.timing = true
}

func (r *recorder) dummySpan() span { return span{buf: r.dummy, id: r.dumID, size: 256} }

// scratchBuf is one device buffer the recorder lends to ops.
type scratchBuf struct {
	buf *wgpu.Buffer
	id  uint64
}

func (s scratchBuf) span() span { return span{buf: s.buf, id: s.id, size: s.buf.Size()} }

// Scratch slots: scratchAlias holds copies of inputs that alias an op's
// output; FusedMatMul's composed path keeps the normalised x and the whole
// product in the next two; split attention its partials in the last.
const (
	scratchAlias = iota
	scratchNormed
	scratchProduct
	scratchAttention // split attention's partials
	scratchSlots
)

// tiledSpans binds matvec_tiled.wgsl: weights, x, the norm weight (unset:
// a dummy) and up to three outputs (missing ones: dummies).
func (r *recorder) tiledSpans(w, x, g span, ys []span) []span {
	if g.buf == nil {
		g = r.dummySpan()
	}
	out := []span{w, x, g, ys[0], r.wr[0].span(), r.wr[1].span()}
	copy(out[4:], ys[1:])
	return out
}

func (r *recorder) init(d *Device) error {
	r.d = d
	var err error
	r.params, err = d.createBuffer("params", paramArena+paramWindow, wgpu.BufferUsageStorage|wgpu.BufferUsageCopyDst)
	if err != nil {
		return err
	}
	r.dummy, err = d.createBuffer("unused", 256, storageUsage)
	if err != nil {
		return err
	}
	r.dumID = d.newID()
	for i := range r.wr {
		if r.wr[i].buf, err = d.createBuffer("unused output", 256, storageUsage); err != nil {
			return err
		}
		r.wr[i].id = d.newID()
	}
	r.arena = make([]byte, 0, paramArena)
	r.blocks = map[string]int{}
	r.groups = map[bgKey]*wgpu.BindGroup{}
	return nil
}

func (r *recorder) dirty() bool { return r.enc != nil }

func (r *recorder) destroy() {
	if r.pass != nil {
		_ = r.pass.End()
		r.pass = nil
	}
	if r.enc != nil {
		if cb, err := r.enc.Finish(); err == nil {
			cb.Release()
		}
		r.enc = nil
	}
	for k, g := range r.groups {
		g.Release()
		delete(r.groups, k)
	}
	for _, b := range append(r.scratch[:], r.wr[:]...) {
		if b.buf != nil {
			b.buf.Release()
		}
	}
	if r.params != nil {
		r.params.Release()
	}
	if r.dummy != nil {
		r.dummy.Release()
	}
}

// forgetKernel drops cached bind groups made for kernel id (being
// destroyed): releasing them after their pipeline and layout are gone
// crashed lavapipe now and then.
func (r *recorder) forgetKernel(id int) {
	for k, g := range r.groups {
		if k.kernel == id {
			g.Release()
			delete(r.groups, k)
		}
	}
}

// forget drops cached bind groups that reference buffer id (being released).
func (r *recorder) forget(id uint64) {
	for k, g := range r.groups {
		for i := 0; i < k.n; i++ {
			if k.spans[i].id == id {
				g.Release()
				delete(r.groups, k)
				break
			}
		}
	}
}

func (r *recorder) encoder() (*wgpu.CommandEncoder, error) {
	if r.enc == nil {
		enc, err := r.d.dev.CreateCommandEncoder(nil)
		if err != nil {
			return nil, r.d.fail("creating a command encoder", err)
		}
		r.enc = enc
	}
	return r.enc, nil
}

func (r *recorder) computePass() (*wgpu.ComputePassEncoder, error) {
	if r.pass != nil {
		return r.pass, nil
	}
	enc, err := r.encoder()
	if err != nil {
		return nil, err
	}
	p, err := enc.BeginComputePass(nil)
	if err != nil {
		return nil, r.d.fail("beginning a compute pass", err)
	}
	r.pass = p
	return p, nil
}

func (r *recorder) endPass() error {
	if r.pass == nil {
		return nil
	}
	err := r.pass.End()
	r.pass = nil
	if err != nil {
		return r.d.fail("ending a compute pass", err)
	}
	return nil
}

// copy records a buffer-to-buffer copy (outside any compute pass).
func (r *recorder) copy(src *wgpu.Buffer, srcOff uint64, dst *wgpu.Buffer, dstOff, size uint64) error {
	if u, ok := r.copyUse[src]; (ok && !u) || r.copyUse[dst] {
		if err := r.flush(); err != nil {
			return err
		}
	}
	if err := r.endPass(); err != nil {
		return err
	}
	if r.copyUse == nil {
		r.copyUse = map[*wgpu.Buffer]bool{}
	}
	r.copyUse[src] = true
	r.copyUse[dst] = false
	enc, err := r.encoder()
	if err != nil {
		return err
	}
	enc.CopyBufferToBuffer(src, srcOff, dst, dstOff, size)
	r.count++
	return nil
}

// copyWords records dst[0:n] = src[0:n] (u32 words), or zeroes dst[0:n]
// when src has no buffer, as a dispatch (copywords.wgsl says why not a
// copy or clear command).
func (r *recorder) copyWords(src, dst span, n uint64) error {
	mode := uint32(0)
	if src.buf == nil {
		src, mode = r.dummySpan(), 1
	}
	if n > math.MaxUint32 {
		return fmt.Errorf("webgpu: internal: copying %d words in one dispatch", n)
	}
	return r.dispatch(r.d.kern.words, []uint32{uint32(n), mode}, []span{src, dst}, uint32(min(ceilDiv(int(n), 256), 4096)), 1, 1)
}

// flush submits everything recorded, new parameters first.
func (r *recorder) flush() error {
	if r.enc == nil {
		return nil
	}
	t0 := r.now()
	if err := r.endPass(); err != nil {
		return err
	}
	cb, err := r.enc.Finish()
	r.stats.Finish += r.since(t0)
	t1 := r.now()
	r.enc = nil
	r.count = 0
	clear(r.copyUse)
	if err != nil {
		r.resetArena()
		return r.d.fail("finishing commands", err)
	}
	if err := r.writeParams(); err != nil {
		cb.Release()
		return r.d.fail("writing parameters", err)
	}
	r.stats.Params += r.since(t1)
	t2 := r.now()
	r.d.unfenced = true
	_, err = r.d.queue.Submit(cb)
	r.stats.Submit += r.since(t2)
	r.stats.Submits++
	if err != nil {
		return r.d.fail("submitting", err)
	}
	return nil
}

// submitWrites submits what was recorded and the queue's pending writes in
// a command buffer of its own. Never call queue.Submit() with no command
// buffer: gogpu (v0.31.5 to v0.34.5) then takes submission index 0 for the
// latest, and frees the staging buffers of writes still in flight (lavapipe
// segfaulted copying from one, about one run in four of TiledShapes).
func (r *recorder) submitWrites() error {
	if _, err := r.encoder(); err != nil {
		return err
	}
	return r.flush()
}

// dispatch records one dispatch of k over the given buffer spans with
// parameters p (read by the shader as P[0..len(p))).
func (r *recorder) dispatch(k *kernel, p []uint32, spans []span, x, y, z uint32) error {
	if len(spans) != k.nbind {
		return fmt.Errorf("webgpu: internal: kernel %s wants %d buffers, got %d", k.name, k.nbind, len(spans))
	}
	if x == 0 || y == 0 || z == 0 {
		return nil
	}
	lim := r.d.limits.MaxComputeWorkgroupsPerDimension
	if lim > 0 && (x > lim || y > lim || z > lim) {
		return fmt.Errorf("webgpu: %s: grid %d×%d×%d exceeds the device limit %d", k.name, x, y, z, lim)
	}
	limit := r.d.submitEvery
	if !r.d.unfenced {
		limit = min(limit, firstSubmit)
	}
	if r.count >= limit {
		if err := r.flush(); err != nil {
			return err
		}
	}
	off, err := r.param(p)
	if err != nil {
		return fmt.Errorf("webgpu: %s: %w", k.name, err)
	}
	// The parameter offset is baked into the bind group rather than passed
	// as a dynamic offset: with gogpu on lavapipe, consecutive dispatches of
	// one pipeline kept the first dispatch's dynamic offset. Decoding repeats
	// the same dispatch sequence every token, so the cache still hits.
	bg, err := r.bindGroup(k, off, spans)
	if err != nil {
		return err
	}
	t0 := r.now()
	pass, err := r.computePass()
	if err != nil {
		return err
	}
	pass.SetPipeline(k.pipe)
	pass.SetBindGroup(0, bg, nil)
	pass.Dispatch(x, y, z)
	r.stats.Encode += r.since(t0)
	r.stats.Dispatches++
	r.count++
	return nil
}

func (r *recorder) bindGroup(k *kernel, poff int, spans []span) (*wgpu.BindGroup, error) {
	key := bgKey{kernel: k.id, poff: poff, n: len(spans)}
	for i, s := range spans {
		key.spans[i] = struct{ id, off, size uint64 }{s.id, s.off, s.size}
	}
	if g, ok := r.groups[key]; ok {
		return g, nil
	}
	entries := make([]wgpu.BindGroupEntry, 0, len(spans)+1)
	entries = append(entries, wgpu.BindGroupEntry{Binding: 0, Buffer: r.params, Offset: uint64(poff), Size: paramWindow})
	for i, s := range spans {
		entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(i + 1), Buffer: s.buf, Offset: s.off, Size: s.size})
	}
	t0 := r.now()
	g, err := r.d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Label: k.name, Layout: k.layout, Entries: entries})
	r.stats.BindGroup += r.since(t0)
	r.stats.BindGroups++
	if err != nil {
		return nil, r.d.fail("creating a bind group for "+k.name, err)
	}
	if len(r.groups) > 16384 { // unbounded growth guard: start over
		for kk, gg := range r.groups {
			gg.Release()
			delete(r.groups, kk)
		}
	}
	r.groups[key] = g
	return g, nil
}

// scratchSpan returns scratch slot's whole buffer, grown to at least size
// bytes (whole, so that calls of other sizes share bind groups). Reusing it
// within one submit is safe: commands run in order with barriers between.
func (r *recorder) scratchSpan(slot int, size uint64) (span, error) {
	size = (size + 255) &^ 255
	s := &r.scratch[slot]
	if s.buf == nil || s.buf.Size() < size {
		if s.buf != nil {
			// releaseGPU submits what was recorded and waits for work that
			// may still read the old buffer before freeing it.
			r.d.releaseGPU(s.buf, s.id)
			s.buf = nil
		}
		b, err := r.d.createBuffer("scratch", size, storageUsage)
		if err != nil {
			return span{}, err
		}
		s.buf, s.id = b, r.d.newID()
	}
	return s.span(), nil
}
