// Package conformance checks one kernels.Device against another (normally
// the CPU reference) op by op: every op, every weight format, and awkward
// shapes. Each op's tolerance is written next to its check, with the reason.
//
// Use it from a device's tests:
//
//	func TestConformance(t *testing.T) {
//		ref, _ := cpu.New(0)
//		dev, _ := mydevice.New(...)
//		conformance.Run(t, ref, dev, conformance.Options{})
//	}
package conformance

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// WeightTypes are the formats every device must multiply and embed.
var WeightTypes = []quant.Type{quant.F32, quant.F16, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.Q3_K, quant.Q2_K}

// KVTypes are the KV-cache formats checked by default.
var KVTypes = []quant.Type{quant.F32, quant.F16, quant.Q8_0, quant.Q4_0}

// Options narrows a run.
type Options struct {
	// Short uses fewer and smaller shapes (still every op and format).
	Short bool
	// KVTypes overrides the KV-cache formats to check (nil: KVTypes).
	KVTypes []quant.Type
	// Only, when set, runs only the named groups: "embed", "rmsnorm",
	// "matmul", "rope", "attention", "elementwise", "copyrows", "topk",
	// "fused".
	Only []string
	// QuantizedX, when set, names the formats whose products the device
	// computes with x rounded to 8 bits per 32 values (the WebGPU device's
	// integer block dots). Their MatMul and FusedMatMul checks widen to
	// quantizedXTol; the device's own tests check those kernels tightly
	// against an emulation of the rounding.
	QuantizedX func(quant.Type) bool
}

// quantizedXTol bounds a product whose x was rounded to int8s per 32
// values. Each x moves by up to 1/254 of its block's largest magnitude;
// where a format stores an offset (Q4_0's 8, Q4_K's mins) the integer
// part of each weight is 2–3× the weight, so a row moves by ~1% of its RMS
// (1σ), and a SiLU gate multiplies two such products: measured worst on
// these matrices 0.17 of the row's RMS (Q4_0 gate-up). This only catches
// gross errors; the device's own tests check those kernels against an
// exact emulation of the rounding.
var quantizedXTol = tol{Abs: 1e-3, Rel: 0.25}

// productTol is the bound for a product of format t: base, or quantizedXTol
// when the device rounds x for t (batch rows ≤ 8: larger batches go
// through f32 kernels, but the wider bound covers them too).
func (o Options) productTol(t quant.Type, base tol) tol {
	if o.QuantizedX != nil && o.QuantizedX(t) {
		return tol{Abs: max(base.Abs, quantizedXTol.Abs), Rel: max(base.Rel, quantizedXTol.Rel)}
	}
	return base
}

func (o Options) wants(group string) bool {
	if len(o.Only) == 0 {
		return true
	}
	for _, g := range o.Only {
		if g == group {
			return true
		}
	}
	return false
}

// pair runs the same op on both devices.
type pair struct {
	t        *testing.T
	ref, dev kernels.Device
	rng      *rand.Rand
}

// Run checks dev against ref. Failures are reported through t; a device
// that cannot even allocate stops the run.
func Run(t *testing.T, ref, dev kernels.Device, opts Options) {
	p := &pair{t: t, ref: ref, dev: dev, rng: newRand()}
	groups := []struct {
		name string
		fn   func(*testing.T, *pair, Options)
	}{
		{"embed", testEmbed}, {"rmsnorm", testRMSNorm}, {"matmul", testMatMul},
		{"rope", testRoPE}, {"attention", testAttention}, {"elementwise", testElementwise},
		{"copyrows", testCopyRows}, {"topk", testTopK}, {"fused", testFused},
	}
	for _, g := range groups {
		if !opts.wants(g.name) {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			q := *p
			q.t = t
			g.fn(t, &q, opts)
		})
	}
}

// buffers holds the same logical buffer on both devices.
type buffers struct{ r, d kernels.Buffer }

func (p *pair) buf(n int) buffers {
	p.t.Helper()
	r, err := p.ref.NewBuffer(n)
	if err != nil {
		p.t.Fatalf("ref NewBuffer(%d): %v", n, err)
	}
	d, err := p.dev.NewBuffer(n)
	if err != nil {
		p.t.Fatalf("dev NewBuffer(%d): %v", n, err)
	}
	p.t.Cleanup(func() { r.Release(); d.Release() })
	return buffers{r, d}
}

// filled is a buffer on both devices holding the same values.
func (p *pair) filled(vals []float32) buffers {
	p.t.Helper()
	b := p.buf(len(vals))
	if err := p.ref.Write(b.r, vals); err != nil {
		p.t.Fatalf("ref Write: %v", err)
	}
	if err := p.dev.Write(b.d, vals); err != nil {
		p.t.Fatalf("dev Write: %v", err)
	}
	return b
}

func (p *pair) randn(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(p.rng.NormFloat64()) * scale
	}
	return v
}

// read returns the first n values of b from both devices.
func (p *pair) read(b buffers, n int) (ref, dev []float32) {
	p.t.Helper()
	ref, dev = make([]float32, n), make([]float32, n)
	if err := p.ref.Read(b.r, ref); err != nil {
		p.t.Fatalf("ref Read: %v", err)
	}
	if err := p.dev.Read(b.d, dev); err != nil {
		p.t.Fatalf("dev Read: %v", err)
	}
	return ref, dev
}

type matrices struct{ r, d kernels.Matrix }

// matrix quantizes rows×cols values to t and uploads the bytes to both devices.
func (p *pair) matrix(t quant.Type, rows, cols int, vals []float32) matrices {
	p.t.Helper()
	rb, err := t.RowBytes(cols)
	if err != nil {
		p.t.Fatalf("%v", err)
	}
	data := make([]byte, rb*rows)
	for r := 0; r < rows; r++ {
		if err := quant.Quantize(t, vals[r*cols:(r+1)*cols], data[r*rb:(r+1)*rb]); err != nil {
			p.t.Fatalf("quantize %s: %v", t, err)
		}
	}
	mr, err := p.ref.UploadMatrix(t, rows, cols, data)
	if err != nil {
		p.t.Fatalf("ref UploadMatrix %s %d×%d: %v", t, rows, cols, err)
	}
	md, err := p.dev.UploadMatrix(t, rows, cols, data)
	if err != nil {
		mr.Release()
		p.t.Fatalf("dev UploadMatrix %s %d×%d: %v", t, rows, cols, err)
	}
	p.t.Cleanup(func() { mr.Release(); md.Release() })
	return matrices{mr, md}
}

// both runs op on each device, failing on either error.
func (p *pair) both(what string, op func(d kernels.Device, pick func(buffers) kernels.Buffer, pickM func(matrices) kernels.Matrix) error) {
	p.t.Helper()
	if err := op(p.ref, func(b buffers) kernels.Buffer { return b.r }, func(m matrices) kernels.Matrix { return m.r }); err != nil {
		p.t.Fatalf("ref %s: %v", what, err)
	}
	if err := op(p.dev, func(b buffers) kernels.Buffer { return b.d }, func(m matrices) kernels.Matrix { return m.d }); err != nil {
		p.t.Fatalf("dev %s: %v", what, err)
	}
}

// tol is an error bound: |dev - ref| ≤ Abs + Rel·scale, where scale is the
// RMS of the reference values of the row being compared (per-row scale,
// so one huge row cannot hide errors in small ones).
type tol struct{ Abs, Rel float64 }

// compare checks dev against ref row by row (rows of width w).
func compare(t *testing.T, what string, ref, dev []float32, w int, tl tol) {
	t.Helper()
	if len(ref) != len(dev) {
		t.Fatalf("%s: lengths %d vs %d", what, len(ref), len(dev))
	}
	bad := 0
	var worst, worstOK float64
	worstAt := -1
	for r0 := 0; r0 < len(ref); r0 += w {
		row := ref[r0:min(r0+w, len(ref))]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		scale := math.Sqrt(ss / float64(len(row)))
		lim := tl.Abs + tl.Rel*scale
		for i := range row {
			e := math.Abs(float64(dev[r0+i]) - float64(row[i]))
			if lim > 0 {
				worstOK = max(worstOK, e/lim)
			}
			if e > lim || math.IsNaN(float64(dev[r0+i])) != math.IsNaN(float64(row[i])) {
				bad++
				if r := e / max(lim, 1e-30); r > worst || worstAt < 0 {
					worst, worstAt = r, r0+i
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values out of tolerance %+v; worst at %d: dev %g ref %g (%.3g× the bound)",
			what, bad, len(ref), tl, worstAt, dev[worstAt], ref[worstAt], worst)
	} else if testing.Verbose() {
		t.Logf("%s: worst error %.3g of the bound %+v", what, worstOK, tl)
	}
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
