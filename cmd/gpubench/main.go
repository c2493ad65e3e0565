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
	"strings"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/webgpu"
	"github.com/tabshard/tabshard/quant"
)

func main() {
	formats := flag.String("formats", "F16,Q8_0,Q4_0,Q4_K,Q5_K,Q6_K,Q3_K,Q2_K,F32", "matvec formats")
	decode := flag.String("decode", "Q4_K,Q8_0", "7B decode formats (empty: skip)")
	tokens := flag.Int("tokens", 64, "decode tokens timed (after 8 warm-up tokens)")
	iters := flag.Int("iters", 200, "matvecs per timing")
	shapes := flag.String("shapes", "", "matvec workgroup shapes to sweep, e.g. 32x2x2,16x4x1 (TPRxRPWxRPT); empty: the device's choice")
	layers := flag.Int("layers", 32, "decode layers")
	flag.IntVar(&submitEvery, "submit", 0, "commands per submit (0: the device default)")
	flag.Parse()
	if err := run(*formats, *decode, *shapes, *tokens, *iters, *layers); err != nil {
		fmt.Fprintln(os.Stderr, "gpubench:", err)
		os.Exit(1)
	}
}

var submitEvery int

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

func run(formatList, decodeList, shapeList string, tokens, iters, layers int) error {
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
		for _, s := range strings.Split(shapeList, ",") {
			var sh webgpu.MatShape
			if _, err := fmt.Sscanf(s, "%dx%dx%d", &sh.TPR, &sh.RPW, &sh.RPT); err != nil {
				return fmt.Errorf("shape %q: %v", s, err)
			}
			shapes = append(shapes, sh)
		}
	}
	for _, sh := range shapes {
		d, err := webgpu.New(webgpu.Options{Timeout: 5 * time.Minute, MatShape: sh, SubmitEvery: submitEvery})
		if err != nil {
			return err
		}
		for _, l := range d.TuneLog() {
			fmt.Println("start-up shape timing:", l)
		}
		ms := d.MatShape()
		fmt.Printf("device: %s, matrix workgroups %d threads/row × %d row groups × %d rows/thread\n", d.Name(), ms.TPR, ms.RPW, ms.RPT)
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
		if err := dispatchCost(d); err != nil {
			return err
		}
		// The card's copy bandwidth is the better of the two ways to copy.
		bw := max(eng, sha)
		fmt.Printf("copy bandwidth (bytes read + written): copy engine %.1f GB/s, compute shader %.1f GB/s; using %.1f GB/s\n", eng/1e9, sha/1e9, bw/1e9)
		for _, t := range fmts {
			for _, sh := range [][2]int{{4096, 4096}, {4096, 11008}, {11008, 4096}} {
				r, err := matvec(d, t, sh[0], sh[1], iters)
				if err != nil {
					return err
				}
				fmt.Printf("matvec %-5s %5d×%-5d %8.1f µs  %7.1f GB/s of weights  %.2f of copy bandwidth\n",
					t, sh[0], sh[1], r.perCall.Seconds()*1e6, r.bw/1e9, r.bw/bw)
			}
		}
		for _, t := range []quant.Type{quant.Q4_K, quant.Q8_0, quant.F16} {
			for _, batch := range []int{8, 32, 128} {
				per, err := matmulBatch(d, t, 4096, 11008, batch)
				if err != nil {
					return err
				}
				fmt.Printf("matmul %-5s 4096×11008 batch %3d %8.1f µs  %6.2f TFLOP/s  %7.1f GB/s of weights\n",
					t, batch, per.Seconds()*1e6, 2*4096*11008*float64(batch)/per.Seconds()/1e12, float64(weightBytes(t, 4096, 11008))/per.Seconds()/1e9)
			}
		}
		for _, t := range dfmts {
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

// weights returns rows×cols GGUF bytes of type t: 64 distinct quantized
// random rows repeated (quantizing billions of weights would dominate).
func weights(t quant.Type, rows, cols int, rng *rand.Rand) ([]byte, error) {
	rb, err := t.RowBytes(cols)
	if err != nil {
		return nil, err
	}
	const distinct = 64
	base := make([]byte, rb*distinct)
	f := make([]float32, cols)
	for r := 0; r < distinct; r++ {
		for i := range f {
			f[i] = float32(rng.NormFloat64()) * 0.02
		}
		if err := quant.Quantize(t, f, base[r*rb:(r+1)*rb]); err != nil {
			return nil, err
		}
	}
	out := make([]byte, rb*rows)
	for r := 0; r < rows; r++ {
		copy(out[r*rb:], base[(r%distinct)*rb:(r%distinct+1)*rb])
	}
	return out, nil
}

type mvResult struct {
	perCall time.Duration
	bw      float64
}

func matvec(d kernels.Device, t quant.Type, rows, cols, iters int) (mvResult, error) {
	rng := rand.New(rand.NewPCG(uint64(rows), uint64(cols)))
	data, err := weights(t, rows, cols, rng)
	if err != nil {
		return mvResult{}, err
	}
	m, err := d.UploadMatrix(t, rows, cols, data)
	if err != nil {
		return mvResult{}, err
	}
	defer m.Release()
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
	timed := func(n int) (time.Duration, error) {
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := d.MatMul(y, m, x, 1); err != nil {
				return 0, err
			}
		}
		if err := d.Read(y, one); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	if _, err := timed(10); err != nil {
		return mvResult{}, err
	}
	el, err := timed(iters)
	if err != nil {
		return mvResult{}, err
	}
	per := el / time.Duration(iters)
	return mvResult{per, float64(len(data)) / per.Seconds()}, nil
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
	data, err := weights(t, rows, cols, rng)
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
