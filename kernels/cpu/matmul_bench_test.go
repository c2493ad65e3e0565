package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/quant"
)

// benchShape is one weight matrix of austen-22m (out×in).
type benchShape struct{ out, in int }

// layerShapes are the seven matmuls of one austen-22m block: q, k, v, o,
// gate, up, down.
var layerShapes = []benchShape{{256, 256}, {128, 256}, {128, 256}, {256, 256}, {768, 256}, {768, 256}, {256, 768}}

// headShape is the output head (256→32000).
var headShape = []benchShape{{32000, 256}}

// BenchmarkMatMul times MatMul on the austen-22m shapes for 1, 8, 64 and
// 512 rows. <format>/layer runs the seven matmuls of one block per op,
// <format>/head the output head. The 8-row sub-benchmark alternates 8-row
// and 1-row passes (so both see the same load from the rest of the machine)
// and reports the median of each and x1row, their ratio (8 would mean
// batching gains nothing over 8 single-row passes); its ns/op covers both.
// The others report rows/s (positions per second).
func BenchmarkMatMul(b *testing.B) {
	cases := []struct {
		name   string
		t      quant.Type
		shapes []benchShape
	}{
		{"F16/layer", quant.F16, layerShapes},
		{"Q8_0/layer", quant.Q8_0, layerShapes},
		{"Q4_0/layer", quant.Q4_0, layerShapes},
		{"Q4_K/layer", quant.Q4_K, layerShapes},
		{"Q6_K/layer", quant.Q6_K, layerShapes},
		{"Q2_K/layer", quant.Q2_K, layerShapes},
		{"Q6_K/head", quant.Q6_K, headShape},
		{"Q8_0/head", quant.Q8_0, headShape},
	}
	dev, err := cpu.New(0)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			mats, xs, outs := benchSetup(b, dev, c.t, c.shapes, 512)
			pass := func(rows int) {
				for j, m := range mats {
					if err := dev.MatMul(outs[j], m, xs[j], rows); err != nil {
						b.Fatal(err)
					}
				}
			}
			for _, rows := range []int{1, 8, 64, 512} {
				b.Run(fmt.Sprint(rows), func(b *testing.B) {
					if rows != 8 {
						for i := 0; i < b.N; i++ {
							pass(rows)
						}
						b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
						return
					}
					// Alternate 8-row and 1-row passes so both see the same
					// load from the rest of the machine; compare medians.
					d8 := make([]time.Duration, b.N)
					d1 := make([]time.Duration, b.N)
					for i := 0; i < b.N; i++ {
						t0 := time.Now()
						pass(8)
						t1 := time.Now()
						pass(1)
						d8[i], d1[i] = t1.Sub(t0), time.Since(t1)
					}
					m8, m1 := median(d8), median(d1)
					b.ReportMetric(float64(m8.Nanoseconds()), "ns/8rows")
					b.ReportMetric(float64(m1.Nanoseconds()), "ns/1row")
					b.ReportMetric(float64(m8)/float64(m1), "x1row")
				})
			}
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func benchSetup(b *testing.B, dev *cpu.Device, t quant.Type, shapes []benchShape, rows int) ([]kernels.Matrix, []kernels.Buffer, []kernels.Buffer) {
	r := rand.New(rand.NewPCG(7, 8))
	var mats []kernels.Matrix
	var xs, outs []kernels.Buffer
	for _, s := range shapes {
		w := make([]float32, s.out*s.in)
		for i := range w {
			w[i] = float32(r.NormFloat64() * 0.05)
		}
		rb, err := t.RowBytes(s.in)
		if err != nil {
			b.Fatal(err)
		}
		data := make([]byte, rb*s.out)
		if err := quant.Quantize(t, w, data); err != nil {
			b.Fatal(err)
		}
		m, err := dev.UploadMatrix(t, s.out, s.in, data)
		if err != nil {
			b.Fatal(err)
		}
		x := make([]float32, rows*s.in)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		xb, err := dev.NewBuffer(len(x))
		if err != nil {
			b.Fatal(err)
		}
		if err := dev.Write(xb, x); err != nil {
			b.Fatal(err)
		}
		ob, err := dev.NewBuffer(rows * s.out)
		if err != nil {
			b.Fatal(err)
		}
		mats, xs, outs = append(mats, m), append(xs, xb), append(outs, ob)
	}
	return mats, xs, outs
}
