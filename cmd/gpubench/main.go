//go:build !js

// Command gpubench measures the WebGPU device on a real GPU (issue 3,
// acceptance 4): device copy bandwidth; matrix×vector weight bandwidth per
// format at 4096×4096, 4096×11008 and 11008×4096 (rows × columns = outputs ×
// inputs) as a fraction of copy bandwidth; and decode tokens/s of a
// 7B-shaped LLaMA with random weights against its memory-bandwidth limit.
//
// Build it static here and carry it to the GPU machine:
//
//	CGO_ENABLED=0 go build -o gpubench ./cmd/gpubench
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/webgpu"
	"github.com/tabshard/tabshard/quant"
)

func main() {
	formats := flag.String("formats", "F16,Q8_0,Q4_0,Q4_K,Q5_K,Q6_K,Q3_K,Q2_K,F32", "matvec formats")
	decode := flag.String("decode", "Q4_K,Q8_0", "7B decode formats (empty: skip)")
	tokens := flag.Int("tokens", 64, "decode tokens timed (after the warm-up)")
	flag.DurationVar(&warmup, "warmup", time.Second, "keep the GPU busy this long before each measurement (copying; in decode, repeating the 8 warm-up tokens): its clocks ramp up from idle over hundreds of milliseconds (0: measure cold)")
	iters := flag.Int("iters", 200, "matvecs per timing")
	shapes := flag.String("shapes", "", "matvec workgroup shapes to sweep, e.g. 32x2x2,16x4x1 (TPRxRPWxRPT); empty: the device's choice")
	layers := flag.Int("layers", 32, "decode layers")
	flag.IntVar(&ballastMB, "ballast", 0, "diagnosis: first allocate this many MB of weights that stay unused")
	flag.BoolVar(&ballastUpload, "ballast-upload", true, "diagnosis: upload the ballast (UploadMatrix) rather than only allocating it (NewBuffer)")
	flag.StringVar(&mvShapes, "mv", "4096x4096,4096x11008,11008x4096", "matvec shapes (rows×cols)")
	probe := flag.Bool("probe", false, "sweep the read-bandwidth probe over workgroup counts and unrolls, then exit")
	tiledList := flag.String("tiled", "", "tiled matvec shapes to sweep, e.g. 8x2x32,16x2x16 (slices × blocks per step × rows per workgroup); empty: the device's choice")
	flag.IntVar(&coldBytes, "cold", 512<<20, "matvec weights rotated over (bytes), so they come from memory rather than the last-level cache")
	flag.IntVar(&submitEvery, "submit", 0, "commands per submit (0: the device default)")
	flag.Func("x", "how Q8_0, Q4_0 and Q4_K products take x: int8 (rounded per 32 values) or float (default: the device's choice, int8 on GPUs)", func(v string) error {
		switch v {
		case "int8":
			xPrecision = webgpu.XInt8
		case "float":
			xPrecision = webgpu.XFloat
		default:
			return fmt.Errorf("want int8 or float")
		}
		return nil
	})
	batchList := flag.String("batches", "8,32,128", "batch sizes of the 4096×11008 matmul timings (empty: skip)")
	flag.BoolVar(&unfused, "unfused", true, "also time decode through the unfused op sequence (the baseline)")
	flag.BoolVar(&mixQ6K, "mix", false, "decode: Q6_K for the output head and every other layer's attn_v and ffn_down, as llama.cpp's Q4_K_M roughly does (the engine's path only)")
	flag.IntVar(&startPos, "pos", 8, "decode: position of the first timed token (the 8 warm-up positions come before it)")
	flag.BoolVar(&opProfile, "ops", false, "after each decode, time every op of one layer alone")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if startPos < 8 || startPos+*tokens > ctxLen {
		fmt.Fprintf(os.Stderr, "gpubench: -pos %d with -tokens %d: want 8 ≤ pos and pos + tokens ≤ %d\n", startPos, *tokens, ctxLen)
		os.Exit(2)
	}
	for _, b := range strings.Split(*batchList, ",") {
		var n int
		if _, err := fmt.Sscan(b, &n); err == nil && n > 0 {
			batches = append(batches, n)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gpubench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *probe {
		if err := readProbe(); err != nil {
			fmt.Fprintln(os.Stderr, "gpubench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*formats, *decode, *shapes, *tiledList, *tokens, *iters, *layers); err != nil {
		fmt.Fprintln(os.Stderr, "gpubench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

var submitEvery, coldBytes int

var xPrecision webgpu.XPrecision // -x
var mvShapes string
var ballastMB int
var opProfile, unfused, mixQ6K bool

// startPos is where decode timing starts (-pos); warmup is how long the GPU
// is kept busy before each measurement (-warmup, see warm).
var (
	startPos int
	warmup   time.Duration
)
var batches []int
var ballastUpload bool

func parseTypes(s string) ([]quant.Type, error) {
	var out []quant.Type
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		t, err := quant.ParseType(f)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// eachTriple calls fn with each AxBxC of a comma-separated list.
func eachTriple(list string, fn func(a, b, c int)) error {
	for _, s := range strings.Split(list, ",") {
		var a, b, c int
		if _, err := fmt.Sscanf(s, "%dx%dx%d", &a, &b, &c); err != nil {
			return fmt.Errorf("%q: %v", s, err)
		}
		fn(a, b, c)
	}
	return nil
}

func run(formatList, decodeList, shapeList, tiledList string, tokens, iters, layers int) error {
	fmts, err := parseTypes(formatList)
	if err != nil {
		return err
	}
	dfmts, err := parseTypes(decodeList)
	if err != nil {
		return err
	}
	shapes := []webgpu.MatShape{{}}
	if shapeList != "" {
		shapes = nil
		err := eachTriple(shapeList, func(a, b, c int) { shapes = append(shapes, webgpu.MatShape{TPR: a, RPW: b, RPT: c}) })
		if err != nil {
			return fmt.Errorf("-shapes: %v", err)
		}
	}
	tshapes := []webgpu.TiledShape{{}}
	if tiledList != "" {
		tshapes = nil
		err := eachTriple(tiledList, func(a, b, c int) { tshapes = append(tshapes, webgpu.TiledShape{S: a, U: b, R: c}) })
		if err != nil {
			return fmt.Errorf("-tiled: %v", err)
		}
	}
	type combo struct {
		m webgpu.MatShape
		t webgpu.TiledShape
	}
	var combos []combo
	for _, sh := range shapes {
		for _, ts := range tshapes {
			combos = append(combos, combo{sh, ts})
		}
	}
	for _, c := range combos {
		d, err := webgpu.New(webgpu.Options{Timeout: 5 * time.Minute, MatShape: c.m, TiledShape: c.t, SubmitEvery: submitEvery, X: xPrecision})
		if err != nil {
			return err
		}
		for _, l := range d.TuneLog() {
			fmt.Println("start-up shape timing:", l)
		}
		ms, ts := d.MatShape(), d.TiledShape()
		fmt.Printf("device: %s, matrix workgroups %d threads/row × %d row groups × %d rows/thread; tiled matvec %d slices × %d blocks/step × %d rows; x of Q4_K products rounded to int8: %v\n", d.Name(), ms.TPR, ms.RPW, ms.RPT, ts.S, ts.U, ts.R, d.QuantizesX(quant.Q4_K))
		// Warm up: GPUs idle at low clocks and take a second or two of load to
		// reach full speed; measuring earlier halves every number.
		for t0 := time.Now(); time.Since(t0) < 3*time.Second; {
			if _, _, err := d.CopyBandwidth(256<<20, 50); err != nil {
				return err
			}
		}
		eng, sha, err := d.CopyBandwidth(256<<20, 50)
		if err != nil {
			return err
		}
		if ballastMB > 0 {
			if err := ballast(d, ballastMB, ballastUpload); err != nil {
				return err
			}
		}
		if err := dispatchCost(d); err != nil {
			return err
		}
		// The card's copy bandwidth is the better of the two ways to copy.
		bw := max(eng, sha)
		fmt.Printf("copy bandwidth (bytes read + written): copy engine %.1f GB/s, compute shader %.1f GB/s; using %.1f GB/s\n", eng/1e9, sha/1e9, bw/1e9)
		for _, t := range fmts {
			for _, f := range strings.Split(mvShapes, ",") {
				var sh [2]int
				if _, err := fmt.Sscanf(f, "%dx%d", &sh[0], &sh[1]); err != nil {
					return fmt.Errorf("matvec shape %q: %v", f, err)
				}
				r, err := matvec(d, t, sh[0], sh[1], iters)
				if err != nil {
					return err
				}
				fmt.Printf("matvec %-5s %5d×%-5d %8.1f µs  %7.1f GB/s of weights  %.2f of copy bandwidth at start, %.2f of copy bandwidth with these weights resident (%.0f GB/s) (%d matrices, %.0f MB, rotated; %.1f µs recording)\n",
					t, sh[0], sh[1], r.perCall.Seconds()*1e6, r.bw/1e9, r.bw/bw, r.bw/r.copyHere, r.copyHere/1e9, r.copies, float64(r.copies)*r.bytes/1e6, r.record.Seconds()*1e6)
			}
		}
		if e2, s2, err := d.CopyBandwidth(256<<20, 50); err == nil {
			fmt.Printf("copy bandwidth again after the matvecs: copy engine %.1f GB/s, compute shader %.1f GB/s\n", e2/1e9, s2/1e9)
		}
		for _, t := range []quant.Type{quant.Q4_K, quant.Q8_0, quant.F16} {
			for _, batch := range batches {
				per, err := matmulBatch(d, t, 4096, 11008, batch)
				if err != nil {
					return err
				}
				fmt.Printf("matmul %-5s 4096×11008 batch %3d %8.1f µs  %6.2f TFLOP/s  %7.1f GB/s of weights\n",
					t, batch, per.Seconds()*1e6, 2*4096*11008*float64(batch)/per.Seconds()/1e12, float64(weightBytes(t, 4096, 11008))/per.Seconds()/1e9)
			}
		}
		for _, t := range dfmts {
			// The engine's path first, then the unfused op sequence (the
			// earlier sessions' decode) as the same run's baseline.
			if err := decodeModel(d, t, tokens, layers, bw); err != nil {
				return err
			}
			if !unfused {
				continue
			}
			if err := decode7B(d, t, tokens, layers, bw); err != nil {
				return err
			}
		}
		if err := d.Close(); err != nil {
			return err
		}
	}
	return nil
}

type mvResult struct {
	perCall   time.Duration
	bw, bytes float64
	copies    int
	record    time.Duration // CPU time per call spent recording
	copyHere  float64       // compute-shader copy bandwidth measured with the matrices resident
}

// matvec times iters dependent matrix×vector products cycling over enough
// copies of one rows×cols matrix to fill coldBytes: a single matrix that
// fits the GPU's last-level cache (50+ MB) would be read from there and
// overstate memory bandwidth; a 7B decode never reuses weights so soon.
func matvec(d kernels.Device, t quant.Type, rows, cols, iters int) (mvResult, error) {
	rng := rand.New(rand.NewPCG(uint64(rows), uint64(cols)))
	data, err := quant.RandomRows(t, rows, cols, rng)
	if err != nil {
		return mvResult{}, err
	}
	// A power of two up to 64 copies: dispatch i uses copy i mod copies and
	// parameter slot i mod 64 (DefaultSubmitEvery), so the pairs repeat and
	// the device's bind-group cache hits, as it does in decoding. Other
	// counts would time bind-group creation on the CPU.
	copies := 1
	for copies < 64 && copies*len(data) < coldBytes {
		copies *= 2
	}
	ms := make([]kernels.Matrix, 0, copies)
	defer func() {
		for _, m := range ms {
			m.Release()
		}
	}()
	for i := 0; i < copies; i++ {
		m, err := d.UploadMatrix(t, rows, cols, data)
		if err != nil {
			return mvResult{}, err
		}
		ms = append(ms, m)
	}
	if err := warm(d); err != nil { // uploading left the GPU idle
		return mvResult{}, err
	}
	copyHere, err := residentCopy(d)
	if err != nil {
		return mvResult{}, err
	}
	x, err := d.NewBuffer(cols)
	if err != nil {
		return mvResult{}, err
	}
	defer x.Release()
	y, err := d.NewBuffer(rows)
	if err != nil {
		return mvResult{}, err
	}
	defer y.Release()
	xs := make([]float32, cols)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	if err := d.Write(x, xs); err != nil {
		return mvResult{}, err
	}
	one := make([]float32, 1)
	var rec time.Duration
	timed := func(n int) (time.Duration, error) {
		start := time.Now()
		rec = 0
		for i := 0; i < n; i++ {
			t0 := time.Now()
			if err := d.MatMul(y, ms[i%len(ms)], x, 1); err != nil {
				return 0, err
			}
			rec += time.Since(t0)
		}
		if err := d.Read(y, one); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	// Warm up on the product itself (this also creates the bind groups):
	// the copies warm() runs leave the GPU idle between calls while buffers
	// and pipelines are made, and an H100 then stays near 1 GHz instead of
	// its 1980 MHz (nvidia-smi during a run: 1020 MHz at 54% busy), so
	// timings after them measured a half-clocked card. A few hundred
	// back-to-back products keep it busy and at its steady clocks.
	for began, once := time.Now(), false; !once || time.Since(began) < warmup; once = true {
		if _, err := timed(128); err != nil {
			return mvResult{}, err
		}
	}
	if wd, ok := d.(*webgpu.Device); ok {
		wd.ResetRecordStats()
		defer func() { printStats(wd, iters) }()
	}
	el, err := timed(iters)
	if err != nil {
		return mvResult{}, err
	}
	per := el / time.Duration(iters)
	return mvResult{per, float64(len(data)) / per.Seconds(), float64(len(data)), copies, rec / time.Duration(iters), copyHere}, nil
}

// dispatchCost times back-to-back tiny dispatches (a 256-value Add, each
// depending on the last): the fixed cost every op pays, which bounds decode
// speed when a token needs hundreds of dispatches.
func dispatchCost(d kernels.Device) error {
	a, err := d.NewBuffer(256)
	if err != nil {
		return err
	}
	defer a.Release()
	b, err := d.NewBuffer(256)
	if err != nil {
		return err
	}
	defer b.Release()
	if err := d.Write(a, make([]float32, 256)); err != nil {
		return err
	}
	if err := d.Write(b, make([]float32, 256)); err != nil {
		return err
	}
	one := make([]float32, 1)
	const n = 2000
	var rec time.Duration
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := d.Add(a, a, b, 256); err != nil {
			return err
		}
		rec += time.Since(t0)
	}
	if err := d.Read(a, one); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("dispatch cost: %.1f µs per dependent tiny dispatch (%.1f µs of it recording on the CPU)\n",
		el.Seconds()*1e6/n, rec.Seconds()*1e6/n)
	return nil
}

func weightBytes(t quant.Type, rows, cols int) int {
	rb, _ := t.RowBytes(cols)
	return rb * rows
}

// matmulBatch times a batched matrix product (prefill, or many sessions'
// decode steps sharing one pass over the weights).
func matmulBatch(d kernels.Device, t quant.Type, rows, cols, batch int) (time.Duration, error) {
	rng := rand.New(rand.NewPCG(uint64(rows), uint64(batch)))
	data, err := quant.RandomRows(t, rows, cols, rng)
	if err != nil {
		return 0, err
	}
	m, err := d.UploadMatrix(t, rows, cols, data)
	if err != nil {
		return 0, err
	}
	defer m.Release()
	x, err := d.NewBuffer(cols * batch)
	if err != nil {
		return 0, err
	}
	defer x.Release()
	y, err := d.NewBuffer(rows * batch)
	if err != nil {
		return 0, err
	}
	defer y.Release()
	if err := d.Write(x, make([]float32, cols*batch)); err != nil {
		return 0, err
	}
	one := make([]float32, 1)
	const iters = 50
	for round := 0; round < 2; round++ {
		start := time.Now()
		for i := 0; i < iters; i++ {
			if err := d.MatMul(y, m, x, batch); err != nil {
				return 0, err
			}
		}
		if err := d.Read(y, one); err != nil {
			return 0, err
		}
		if round == 1 {
			return time.Since(start) / iters, nil
		}
	}
	return 0, nil
}

// printStats prints where the CPU time of n calls went while recording.
func printStats(d *webgpu.Device, n int) {
	s := d.RecordStats()
	per := func(t time.Duration) float64 { return t.Seconds() * 1e6 / float64(n) }
	fmt.Printf("    per call: %.1f dispatches, %.2f submits, %.2f new bind groups, %.2f parameter writes of %.0f bytes; µs encoding %.1f, bind groups %.1f, finishing %.1f, parameters %.1f, submitting %.1f\n",
		float64(s.Dispatches)/float64(n), float64(s.Submits)/float64(n), float64(s.BindGroups)/float64(n),
		float64(s.ParamWrites)/float64(n), float64(s.ParamBytes)/float64(n),
		per(s.Encode), per(s.BindGroup), per(s.Finish), per(s.Params), per(s.Submit))
}

// readProbe prints read bandwidth by thread count and loads in flight.
func readProbe() error {
	d, err := webgpu.New(webgpu.Options{Timeout: 5 * time.Minute})
	if err != nil {
		return err
	}
	defer d.Close()
	for t0 := time.Now(); time.Since(t0) < 3*time.Second; {
		if _, _, err := d.CopyBandwidth(256<<20, 50); err != nil {
			return err
		}
	}
	for _, g := range []int{128, 512, 2048, 8192} {
		for _, u := range []int{1, 4, 8} {
			bw, err := d.ReadBandwidth(128<<20, g, u, 50)
			if err != nil {
				return err
			}
			fmt.Printf("read probe: %5d workgroups × 256 threads, %d loads/step: %7.1f GB/s\n", g, u, bw/1e9)
		}
	}
	return nil
}

// ballast allocates mb MB of 64 MiB pieces that stay allocated and unused.
func ballast(d kernels.Device, mb int, upload bool) error {
	const rows, cols = 4096, 8192 // F16: 64 MiB
	data := make([]byte, rows*cols*2)
	for i := 0; i < mb/64; i++ {
		if upload {
			if _, err := d.UploadMatrix(quant.F16, rows, cols, data); err != nil {
				return err
			}
			continue
		}
		if _, err := d.NewBuffer(rows * cols / 2); err != nil {
			return err
		}
	}
	fmt.Printf("ballast: %d MB (upload %v)\n", mb/64*64, upload)
	return nil
}

// warm keeps the GPU copying for -warmup before a measurement: from idle
// its clocks take hundreds of milliseconds to ramp up (an H100's SM clock
// sits at 345 MHz idle and 1980 MHz under load), and a timing of a few
// milliseconds started cold measures the ramp, not the kernel.
func warm(d kernels.Device) error {
	wd, ok := d.(*webgpu.Device)
	if !ok || warmup <= 0 {
		return nil
	}
	for began := time.Now(); time.Since(began) < warmup; {
		if _, _, err := wd.CopyBandwidth(64<<20, 10); err != nil {
			return err
		}
	}
	return nil
}

// residentCopy measures the compute-shader copy bandwidth now. On the H200
// we lend, the card's copy bandwidth falls (to ~45% with ~3.5 GB written)
// as more device memory holds data (BENCH.md), so each ratio is also given
// against the copy measured with the weights in question resident.
func residentCopy(d kernels.Device) (float64, error) {
	wd, ok := d.(*webgpu.Device)
	if !ok {
		return 0, fmt.Errorf("not a webgpu device")
	}
	_, sha, err := wd.CopyBandwidth(256<<20, 20)
	return sha, err
}
