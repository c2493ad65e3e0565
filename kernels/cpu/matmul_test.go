package cpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/quant"
)

// TestMatMulBatch checks the batched MatMul (rows > 1) of every weight
// format against a float64 product of the dequantized weights, on shapes
// that leave tile and panel remainders, and checks that a row's output is
// bit-identical whatever batch it is computed in (pipeline batching across
// sessions relies on it) and close to the single-row (decode) result.
func TestMatMulBatch(t *testing.T) {
	dev, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	r := rand.New(rand.NewPCG(3, 4))
	types := []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
		quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K}
	for _, ty := range types {
		colsList := []int{256, 512}
		switch ty {
		case quant.F32, quant.F16, quant.BF16:
			colsList = []int{3, 40, 256, 260}
		case quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1:
			colsList = []int{32, 96, 256}
		}
		for _, cols := range colsList {
			for _, outRows := range []int{1, 6, 37, 130} {
				w := make([]float32, outRows*cols)
				for i := range w {
					w[i] = float32(r.NormFloat64() * 0.1)
				}
				rb, err := ty.RowBytes(cols)
				if err != nil {
					t.Fatal(err)
				}
				data := make([]byte, outRows*rb)
				if err := quant.Quantize(ty, w, data); err != nil {
					t.Fatal(err)
				}
				deq := make([]float32, len(w))
				if err := quant.Dequantize(ty, data, deq); err != nil {
					t.Fatal(err)
				}
				m, err := dev.UploadMatrix(ty, outRows, cols, data)
				if err != nil {
					t.Fatal(err)
				}
				const maxRows = 13
				x := make([]float32, maxRows*cols)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				xb, _ := dev.NewBuffer(len(x))
				_ = dev.Write(xb, x)
				ob, _ := dev.NewBuffer(maxRows * outRows)
				run := func(rows int) []float32 {
					if err := dev.MatMul(ob, m, xb, rows); err != nil {
						t.Fatal(err)
					}
					got := make([]float32, rows*outRows)
					_ = dev.Read(ob, got)
					return got
				}
				single := run(1)
				pair := run(2)
				for _, rows := range []int{2, 3, 5, 8, 13} {
					got := run(rows)
					for j := 0; j < rows; j++ {
						for o := 0; o < outRows; o++ {
							var ref, mag float64
							for k := 0; k < cols; k++ {
								p := float64(deq[o*cols+k]) * float64(x[j*cols+k])
								ref += p
								mag += math.Abs(p)
							}
							v := got[j*outRows+o]
							if math.Abs(float64(v)-ref) > 2e-6*mag+1e-30 {
								t.Fatalf("%s %d×%d, %d rows: out[%d][%d] = %v, float64 %v", ty, outRows, cols, rows, j, o, v, ref)
							}
							if j < 2 && v != pair[j*outRows+o] {
								t.Fatalf("%s %d×%d: out[%d][%d] = %v in %d rows, %v in 2", ty, outRows, cols, j, o, v, rows, pair[j*outRows+o])
							}
							if j == 0 && math.Abs(float64(v-single[o])) > 4e-6*mag+1e-30 {
								t.Fatalf("%s %d×%d: out[0][%d] = %v batched, %v alone", ty, outRows, cols, o, v, single[o])
							}
						}
					}
				}
				m.Release()
				xb.Release()
				ob.Release()
			}
		}
	}
}
