package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// TestMatMulQ checks the batched matmul on stored weights of every format:
// its dequantization must be bit-identical to DequantizeRow (so the result
// equals MatMulF32 on DequantizeRow's values bit for bit), and the sizes
// are validated.
func TestMatMulQ(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	types := []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
		quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.Q8_K}
	for _, ty := range types {
		colsList := []int{256, 512}
		switch ty {
		case quant.F32, quant.F16, quant.BF16:
			colsList = []int{5, 16, 40, 256}
		case quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1:
			colsList = []int{32, 96, 256}
		}
		for _, cols := range colsList {
			const rows, nx = 7, 5
			w := randomWeights(r, rows*cols)
			// Extreme values too, so every scale and code path is exercised.
			w[0], w[1] = 40, -37
			x := randomWeights(r, nx*cols)
			rb, err := ty.RowBytes(cols)
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, rows*rb)
			if err := quant.Quantize(ty, w, data); err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, rows*cols)
			quant.DequantizeRow(ty, data, deq)
			want := make([]float32, nx*rows)
			if err := quant.MatMulF32(deq, x, cols, want, rows); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, nx*rows)
			scratch := make([]float32, rows*cols)
			if err := quant.MatMulQ(ty, data, x, cols, got, rows, scratch); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s width %d: out[%d] = %v, DequantizeRow+MatMulF32 %v", ty, cols, i, got[i], want[i])
				}
			}
			if err := quant.MatMulQ(ty, data[:len(data)-1], x, cols, got, rows, scratch); err == nil && ty != quant.F32 {
				t.Errorf("%s: partial row accepted", ty)
			}
			if ty != quant.F32 {
				if err := quant.MatMulQ(ty, data, x, cols, got, rows, scratch[:len(scratch)-1]); err == nil {
					t.Errorf("%s: short scratch accepted", ty)
				}
			}
		}
	}
	if err := quant.MatMulQ(quant.Type(1000), make([]byte, 8), make([]float32, 8), 8, make([]float32, 8), 1, nil); err == nil {
		t.Error("unsupported type accepted")
	}
}

// BenchmarkMatMulQ compares the batched matmul's dequantizer
// (through MatMulQ with one activation row, which also multiplies) with
// DequantizeRow on 16 rows of 768.
func BenchmarkMatMulQ(b *testing.B) {
	const cols, rows, nx = 768, 16, 8
	r := rand.New(rand.NewPCG(43, 44))
	w, x := randomWeights(r, rows*cols), randomWeights(r, nx*cols)
	scratch := make([]float32, rows*cols)
	dst := make([]float32, rows*nx)
	for _, ty := range []quant.Type{quant.F16, quant.Q8_0, quant.Q4_K, quant.Q6_K} {
		data := make([]byte, rows*mustRowBytes(ty, cols))
		if err := quant.Quantize(ty, w, data); err != nil {
			b.Fatal(err)
		}
		b.Run(ty.String()+"/MatMulQ", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				_ = quant.MatMulQ(ty, data, x, cols, dst, rows, scratch)
			}
		})
		b.Run(ty.String()+"/DequantizeRow+MatMulF32", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				quant.DequantizeRow(ty, data, scratch)
				_ = quant.MatMulF32(scratch, x, cols, dst, rows)
			}
		})
	}
}
