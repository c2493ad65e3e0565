package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// TestDotRows checks DotRows against a float64 dot of the dequantized rows
// for every format (the AVX-512 kernels where the CPU has them, DotRow
// otherwise), and that short weights leave the rows they cannot hold alone.
func TestDotRows(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	types := []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
		quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.Q8_K}
	for _, ty := range types {
		colsList := []int{256, 768}
		switch ty {
		case quant.F32, quant.F16, quant.BF16:
			colsList = []int{7, 16, 40, 256, 264}
		case quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1:
			colsList = []int{32, 64, 96, 256}
		}
		for _, cols := range colsList {
			const rows = 9
			w := randomWeights(r, rows*cols)
			x := randomWeights(r, cols)
			rb, err := ty.RowBytes(cols)
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, rows*rb)
			if err := quant.Quantize(ty, w, data); err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, len(w))
			if err := quant.Dequantize(ty, data, deq); err != nil {
				t.Fatal(err)
			}
			dst := make([]float32, rows+1)
			dst[rows] = 42
			quant.DotRows(ty, data, x, dst)
			if dst[rows] != 42 {
				t.Fatalf("%s: DotRows wrote past the rows w holds", ty)
			}
			for o := 0; o < rows; o++ {
				var ref, mag float64
				for k := 0; k < cols; k++ {
					p := float64(deq[o*cols+k]) * float64(x[k])
					ref += p
					mag += math.Abs(p)
				}
				if math.Abs(float64(dst[o])-ref) > 2e-6*mag+1e-30 {
					t.Fatalf("%s width %d row %d: DotRows %v, float64 %v", ty, cols, o, dst[o], ref)
				}
				single := quant.DotRow(ty, data[o*rb:(o+1)*rb], x)
				if math.Abs(float64(dst[o]-single)) > 4e-6*mag+1e-30 {
					t.Fatalf("%s width %d row %d: DotRows %v, DotRow %v", ty, cols, o, dst[o], single)
				}
			}
		}
	}
	// An unsupported type gives NaN, and mismatched sizes do not panic.
	dst := []float32{1, 1}
	quant.DotRows(quant.Type(1000), make([]byte, 64), make([]float32, 16), dst)
	if !math.IsNaN(float64(dst[0])) {
		t.Errorf("unsupported type: got %v, want NaN", dst[0])
	}
	quant.DotRows(quant.Q4_K, make([]byte, 10), make([]float32, 256), dst)
	quant.DotRows(quant.Q4_K, make([]byte, 1000), make([]float32, 100), dst)
	quant.DotRows(quant.F16, nil, nil, dst)
}

// BenchmarkDotRows is a 256-wide matrix-vector product over 4096 rows per
// op (the austen-22m head's shape, an eighth of its rows), against DotRow
// called per row in the same run; MB/s is weight bytes read.
func BenchmarkDotRows(b *testing.B) {
	const n, rows = 256, 4096
	r := rand.New(rand.NewPCG(33, 34))
	w := randomWeights(r, n*rows)
	x := randomWeights(r, n)
	dst := make([]float32, rows)
	for _, ty := range []quant.Type{quant.F16, quant.Q8_0, quant.Q2_K, quant.Q4_K, quant.Q6_K} {
		rb := mustRowBytes(ty, n)
		buf := make([]byte, rb*rows)
		if err := quant.Quantize(ty, w, buf); err != nil {
			b.Fatal(err)
		}
		b.Run(ty.String()+"/DotRows", func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for i := 0; i < b.N; i++ {
				quant.DotRows(ty, buf, x, dst)
			}
		})
		b.Run(ty.String()+"/DotRow", func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for i := 0; i < b.N; i++ {
				for k := range dst {
					dst[k] = quant.DotRow(ty, buf[k*rb:(k+1)*rb], x)
				}
			}
		})
	}
}
