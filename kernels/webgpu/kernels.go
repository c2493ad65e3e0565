package webgpu

import (
	"bytes"
	"embed"
	"fmt"
	"text/template"

	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

//go:embed shaders/*.wgsl
var shaderFS embed.FS

// kernel is one compiled compute pipeline. Binding 0 is always the parameter
// arena (read-only storage, at this dispatch's offset); bindings 1..nbind are buffers.
type kernel struct {
	name   string
	id     int
	nbind  int
	pipe   *wgpu.ComputePipeline
	layout *wgpu.BindGroupLayout
	pl     *wgpu.PipelineLayout
	mod    *wgpu.ShaderModule
}

func (k *kernel) destroy() {
	if k == nil {
		return
	}
	k.pipe.Release()
	k.pl.Release()
	k.layout.Release()
	k.mod.Release()
}

// dropKernel destroys a kernel compiled for a measurement, with the bind
// groups cached for it. Call with d.mu held, after a fence on its work.
func (d *Device) dropKernel(k *kernel) {
	d.rec.forgetKernel(k.id)
	k.destroy()
}

// MatShape is the workgroup shape of the matrix kernels: TPR threads share
// one weight row (a power of two), RPW row groups per workgroup, RPT rows
// per group.
type MatShape struct{ TPR, RPW, RPT int }

func (s MatShape) valid() bool {
	return s.TPR >= 1 && s.TPR <= 256 && s.TPR&(s.TPR-1) == 0 && s.RPW >= 1 && s.TPR*s.RPW <= 256 &&
		s.RPT >= 1 && s.RPT <= 16 && s.TPR*s.RPW*s.RPT <= 512 // batched reduction: ≤ 16 KiB
}

// rowsPerGroup is how many weight rows one workgroup covers.
func (s MatShape) rowsPerGroup(nb int) int { return s.RPW * s.RPT }

// opKernels are the pipelines New compiles.
type opKernels struct {
	tiled   map[tiledKey]*kernel   // NB = 1, tiled layouts (matvec_tiled.wgsl)
	matvec  map[quant.Type]*kernel // NB = 1
	matmul  map[quant.Type]*kernel // NB = matBatch
	embed   map[quant.Type]*kernel
	rmsnorm *kernel
	rope    *kernel
	combine *kernel // attncombine.wgsl: merges split attention
	words   *kernel // copywords.wgsl: copies and zeroing between dispatches
	elem    *kernel
	addIn   *kernel
	copy    *kernel
	topk    *kernel
	tail    *kernel // FusedMatMul's epilogue after a whole product
	shape   MatShape
	tshape  TiledShape
}

// matBatch is how many batch rows one matmul workgroup serves.
const matBatch = 8

// weightTypes are the formats MatMul and Embed accept.
var weightTypes = []quant.Type{quant.F32, quant.F16, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.Q3_K, quant.Q2_K}

func (o *opKernels) destroy() {
	for _, m := range []map[quant.Type]*kernel{o.matvec, o.matmul, o.embed} {
		for _, k := range m {
			k.destroy()
		}
	}
	for _, k := range o.tiled {
		k.destroy()
	}
	for _, k := range []*kernel{o.rmsnorm, o.rope, o.elem, o.addIn, o.copy, o.topk, o.tail, o.combine, o.words} {
		k.destroy()
	}
}

// render instantiates shaders/name with data.
func render(name string, data any) (string, error) {
	src, err := shaderFS.ReadFile("shaders/" + name)
	if err != nil {
		return "", err
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return "", fmt.Errorf("webgpu: shader template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("webgpu: shader template %s: %w", name, err)
	}
	return b.String(), nil
}

// snippet renders one named block of a template file.
func snippet(file, block string, data any) (string, error) {
	src, err := shaderFS.ReadFile("shaders/" + file)
	if err != nil {
		return "", err
	}
	t, err := template.New(file).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return "", fmt.Errorf("webgpu: shader template %s: %w", file, err)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, block, data); err != nil {
		return "", fmt.Errorf("webgpu: shader block %s/%s: %w", file, block, err)
	}
	return b.String(), nil
}

// newKernel compiles src; readOnly[i] tells whether binding i+1 is read-only.
func (d *Device) newKernel(name, src string, readOnly ...bool) (*kernel, error) {
	k := &kernel{name: name, id: int(d.newID()), nbind: len(readOnly)}
	var err error
	k.mod, err = d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{Label: name, WGSL: src})
	if err != nil {
		return nil, fmt.Errorf("webgpu: compiling shader %s: %w", name, err)
	}
	entries := []wgpu.BindGroupLayoutEntry{{
		Binding: 0, Visibility: wgpu.ShaderStageCompute,
		Buffer: &gputypes.BufferBindingLayout{Type: gputypes.BufferBindingTypeReadOnlyStorage},
	}}
	for i, ro := range readOnly {
		t := gputypes.BufferBindingTypeStorage
		if ro {
			t = gputypes.BufferBindingTypeReadOnlyStorage
		}
		entries = append(entries, wgpu.BindGroupLayoutEntry{
			Binding: uint32(i + 1), Visibility: wgpu.ShaderStageCompute,
			Buffer: &gputypes.BufferBindingLayout{Type: t},
		})
	}
	k.layout, err = d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: name, Entries: entries})
	if err != nil {
		k.mod.Release()
		return nil, fmt.Errorf("webgpu: layout for %s: %w", name, err)
	}
	k.pl, err = d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: name, BindGroupLayouts: []*wgpu.BindGroupLayout{k.layout}})
	if err != nil {
		k.layout.Release()
		k.mod.Release()
		return nil, fmt.Errorf("webgpu: pipeline layout for %s: %w", name, err)
	}
	k.pipe, err = d.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{Label: name, Layout: k.pl, Module: k.mod, EntryPoint: "main"})
	if err != nil {
		k.pl.Release()
		k.layout.Release()
		k.mod.Release()
		return nil, fmt.Errorf("webgpu: pipeline %s: %w", name, err)
	}
	return k, nil
}

type matData struct {
	TPR, RPW, RPT, NB, WG, Red, Acc int
	Rows                            []int // 0..RPT-1, for unrolling
	Common, Deq                     string
}

// classicKernel compiles the classic matvec (matmul.wgsl, NB = 1) with
// shape s for the format whose decoder is deq (start-up timing).
func (d *Device) classicKernel(s MatShape, common, deq string) (*kernel, error) {
	md := matData{TPR: s.TPR, RPW: s.RPW, RPT: s.RPT, NB: 1, Acc: s.RPT, WG: s.TPR * s.RPW, Common: common, Deq: deq}
	md.Red = md.WG * md.Acc
	for j := 0; j < md.RPT; j++ {
		md.Rows = append(md.Rows, j)
	}
	src, err := render("matmul.wgsl", md)
	if err != nil {
		return nil, err
	}
	return d.newKernel("tune", src, true, true, false)
}

func (d *Device) buildKernels() error {
	o := &d.kern
	o.matvec = map[quant.Type]*kernel{}
	o.matmul = map[quant.Type]*kernel{}
	o.embed = map[quant.Type]*kernel{}
	o.tiled = map[tiledKey]*kernel{}
	var err error
	if o.shape, err = d.chooseShape(); err != nil {
		return err
	}
	if o.tshape, err = d.chooseTiledShape(); err != nil {
		return err
	}
	common, err := snippet("formats.wgsl", "common", nil)
	if err != nil {
		return err
	}
	for _, t := range weightTypes {
		deq, err := snippet("formats.wgsl", t.String(), nil)
		if err != nil {
			return err
		}
		for _, nb := range []int{1, matBatch} {
			md := matData{TPR: o.shape.TPR, RPW: o.shape.RPW, RPT: o.shape.RPT, NB: nb, Common: common, Deq: deq}
			md.Acc = md.RPT * nb
			for j := 0; j < md.RPT; j++ {
				md.Rows = append(md.Rows, j)
			}
			md.WG = md.TPR * md.RPW
			md.Red = md.WG * md.Acc
			src, err := render("matmul.wgsl", md)
			if err != nil {
				return err
			}
			k, err := d.newKernel(fmt.Sprintf("matmul_%s_nb%d", t, nb), src, true, true, false)
			if err != nil {
				return err
			}
			if nb == 1 {
				o.matvec[t] = k
			} else {
				o.matmul[t] = k
			}
		}
		if tiled(t) && o.tshape.On() {
			for _, v := range tiledVariants {
				if o.tiled[tiledKey{t, v, false}], err = d.tiledKernel(t, o.tshape, v, common, deq); err != nil {
					return err
				}
				if o.tshape == gpuTiled {
					if o.tiled[tiledKey{t, v, true}], err = d.tiledKernel(t, shortShape, v, common, deq); err != nil {
						return err
					}
				}
			}
		}
		src, err := render("embed.wgsl", matData{Common: common, Deq: deq})
		if err != nil {
			return err
		}
		if o.embed[t], err = d.newKernel("embed_"+t.String(), src, true, false); err != nil {
			return err
		}
	}
	type simple struct {
		dst  **kernel
		file string
		ro   []bool
	}
	for _, s := range []simple{
		{&o.rmsnorm, "rmsnorm.wgsl", []bool{true, true, false}},
		{&o.rope, "rope.wgsl", []bool{false}},
		{&o.combine, "attncombine.wgsl", []bool{true, false}},
		{&o.words, "copywords.wgsl", []bool{true, false}},
		{&o.elem, "elementwise.wgsl", []bool{true, true, false}},
		{&o.addIn, "addinplace.wgsl", []bool{true, false}},
		{&o.copy, "copyrows.wgsl", []bool{true, false}},
		{&o.topk, "topk.wgsl", []bool{true, false}},
		{&o.tail, "fusedtail.wgsl", []bool{true, false}},
	} {
		src, err := render(s.file, nil)
		if err != nil {
			return err
		}
		if *s.dst, err = d.newKernel(s.file, src, s.ro...); err != nil {
			return err
		}
	}
	return nil
}

// MatShape reports the matrix kernels' workgroup shape in use.
func (d *Device) MatShape() MatShape { return d.kern.shape }

// TiledShape is the tiled matvec's shape: S column slices per R rows (a
// workgroup of R·S threads; R is 8, 16 or 32, zero meaning 32) and U blocks
// per loop step. ClassicMatvec
// turns the tiled kernel off: tiled matrices then go through the classic
// kernel (matmul.wgsl), which reads them through deq32.
type TiledShape struct{ S, U, R int }

// ClassicMatvec is the TiledShape that uses the classic kernel.
var ClassicMatvec = TiledShape{S: -1}

func (s TiledShape) valid() bool {
	r := s.rows()
	return s == ClassicMatvec || (r == 8 || r == 16 || r == 32) && s.S >= 1 && r*s.S <= 256 && s.U >= 1 && s.U <= 8
}

// rows is how many weight rows one workgroup covers.
func (s TiledShape) rows() int {
	if s.R == 0 {
		return tileRows
	}
	return s.R
}

// On: whether the tiled kernel is in use.
func (s TiledShape) On() bool { return s.S >= 1 }

// tiledCandidates are timed at start-up (tune_tiled.go); lavapipe and other
// CPU adapters skip the timing and use the classic kernel, which timed
// faster there (2.7 ms against 3.6 ms for one slice and 8.9 ms for eight,
// 1024×4096 Q4_K, TestTuneRuns).
var (
	gpuTiled        = TiledShape{S: 8, U: 2}
	tiledCandidates = []TiledShape{gpuTiled, {S: 1, U: 2}, ClassicMatvec}
	cpuTiled        = ClassicMatvec
)

func (d *Device) chooseTiledShape() (TiledShape, error) {
	switch {
	case d.tshape != (TiledShape{}):
		if !d.tshape.valid() {
			return TiledShape{}, fmt.Errorf("webgpu: tiled matvec shape %+v: want R of 8, 16 or 32, R·S ≤ 256, 1 ≤ U ≤ 8, or ClassicMatvec", d.tshape)
		}
		return d.tshape, nil
	case d.cpuLike:
		return cpuTiled, nil
	}
	return d.tuneTiled()
}

// TiledShape reports the tiled matvec's shape in use.
func (d *Device) TiledShape() TiledShape { return d.kern.tshape }

// variant is a FusedMatMul prologue and epilogue compiled into the tiled
// matvec; the plain MatMul is variant{}.
type variant struct {
	norm bool
	out  kernels.FusedOut
	rope bool // Store only: RoPE on the leading rows (kernels.Rotary)
}

// tiledVariants are the variants compiled for each tiled format when the device
// opens: the plain product, the normed store (the head, and every composed
// FusedMatMul's product), the normed store with RoPE (Q|K|V), the residual
// add, and the normed SiLU gate (pairsSiLU says how). Other combinations
// go through composedProduct, which needs only the first two.
var tiledVariants = []variant{{out: kernels.Store}, {norm: true, out: kernels.Store}, {norm: true, out: kernels.Store, rope: true},
	{out: kernels.Accumulate}, {norm: true, out: kernels.SiLUGate}}

// pairsSiLU: whether the SiLU-gate variant gives each thread a gate row and
// its up row (else the gate and up rows go to two halves of a workgroup's
// lanes, which trade results). Not for Q4_K: its block dot is long, and two
// of them per thread ran the H100's 7B gate|up at 58.7 µs against 38.6 µs
// for the plain 22016-row product. For Q8_0 the pair was faster (43.7
// against 46.5 µs).
func pairsSiLU(t quant.Type) bool { return t != quant.Q4_K }

// tiledKey names one tiled matvec pipeline: format, variant, and whether
// it has shortShape (windows of few rows) rather than the tuned shape.
type tiledKey struct {
	t     quant.Type
	v     variant
	short bool
}

type tiledData struct {
	S, U, ULast, WG, VPB, RT int
	Us, URest                []int
	Common, Deq, Dot         string
	Norm, Rope               bool
	// SiLU: gate and up rows in one thread; Halves: on two lane halves;
	// Swap: lanes trade results (Rope or Halves).
	SiLU, Halves, Swap bool
	Mode               int
	// QX: x is staged as int8s with a scale per 32 values (quantizesX).
	QX bool
}

// tiledBindings: W, X and the norm weight G are read; Y0, Y1, Y2 written.
var tiledBindings = []bool{true, true, true, false, false, false}

func (d *Device) tiledKernel(t quant.Type, sh TiledShape, v variant, common, deq string) (*kernel, error) {
	qx := d.quantizesX(t)
	name := t.String()
	if qx {
		name += "_qx"
	}
	dot, err := snippet("tileddot.wgsl", name, nil)
	if err != nil {
		return nil, err
	}
	td := tiledData{S: sh.S, U: sh.U, ULast: sh.U - 1, RT: sh.rows(), WG: sh.rows() * sh.S, VPB: blockWeights(t) / 4, Common: common, Deq: deq, Dot: dot,
		Norm: v.norm, Rope: v.rope, Mode: int(v.out), QX: qx}
	if v.out == kernels.SiLUGate {
		td.SiLU, td.Halves = pairsSiLU(t), !pairsSiLU(t)
	}
	td.Swap = td.Rope || td.Halves
	for i := 0; i < sh.U; i++ {
		td.Us = append(td.Us, i)
	}
	td.URest = td.Us[1:]
	src, err := render("matvec_tiled.wgsl", td)
	if err != nil {
		return nil, err
	}
	return d.newKernel(fmt.Sprintf("matvec_tiled_%s_norm%v_out%d_rope%v", t, v.norm, v.out, v.rope), src, tiledBindings...)
}

// shortShape serves windows of at most shortRows rows when the GPU shape
// (gpuTiled) won the start-up timing: twice the workgroups for a 4096-row
// matrix. H100, Q4_K 4096×4096 / 4096×11008: 13.6 / 24.8 µs against 15.3 /
// 28.2 with gpuTiled (Q8_0 15.3 / 26.6 against 18.4 / 30.4), while 11008
// rows run 5–10% faster with gpuTiled (BENCH.md).
var shortShape = TiledShape{S: 16, U: 2, R: 16}

const shortRows = 8192

// tiledBatchMax is the largest batch MatMul sends through the tiled matvec,
// one dispatch per batch row; larger batches use the classic kernel.
const tiledBatchMax = 8

// quantizesX reports whether the tiled matvec of format t rounds x to
// int8s (matvec_tiled.wgsl, QX; Options.X).
func (d *Device) quantizesX(t quant.Type) bool {
	return d.int8X && (t == quant.Q8_0 || t == quant.Q4_0 || t == quant.Q4_K)
}

// QuantizesX reports whether products of format t with at most 8 batch
// rows round x to 8 bits per 32 values on this device: the tiled matvec is
// in use (a GPU adapter, or a forced TiledShape) and the format has an
// integer block dot. The conformance suite widens its tolerance for them.
func (d *Device) QuantizesX(t quant.Type) bool {
	return d.kern.tshape.On() && d.quantizesX(t)
}

// blockWeights is how many weights one tiled bdot covers.
func blockWeights(t quant.Type) int {
	if t == quant.Q4_K {
		return 256
	}
	return 32
}
