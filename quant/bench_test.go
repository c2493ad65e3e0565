package quant_test

import (
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

var benchSink float32

// BenchmarkDotRow measures one 4096-wide row·x product per op, cycling over
// 256 rows (1–4 MiB of weights, like a real matmul streaming from L2/L3).
// MB/s is weight bytes read.
func BenchmarkDotRow(b *testing.B) {
	const n, rows = 4096, 256
	r := rand.New(rand.NewPCG(13, 14))
	w := randomWeights(r, n*rows)
	x := randomWeights(r, n)
	for _, ty := range computeTypes {
		rb := mustRowBytes(ty, n)
		buf := make([]byte, rb*rows)
		if err := quant.Quantize(ty, w, buf); err != nil {
			b.Fatal(err)
		}
		b.Run(ty.String(), func(b *testing.B) {
			b.SetBytes(int64(rb))
			var s float32
			for i := 0; i < b.N; i++ {
				k := i % rows
				s += quant.DotRow(ty, buf[k*rb:(k+1)*rb], x)
			}
			benchSink = s
		})
	}
}

func BenchmarkDotF32(b *testing.B) {
	const n = 4096
	r := rand.New(rand.NewPCG(15, 16))
	a, c := randomWeights(r, n), randomWeights(r, n)
	b.SetBytes(4 * n)
	var s float32
	for i := 0; i < b.N; i++ {
		s += quant.DotF32(a, c)
	}
	benchSink = s
}

// BenchmarkDequantizeRow is the other hot path (batched matmuls dequantize a
// row once and reuse it); MB/s is weight bytes read.
func BenchmarkDequantizeRow(b *testing.B) {
	const n = 4096
	r := rand.New(rand.NewPCG(17, 18))
	w := randomWeights(r, n)
	dst := make([]float32, n)
	for _, ty := range computeTypes {
		buf := make([]byte, mustRowBytes(ty, n))
		if err := quant.Quantize(ty, w, buf); err != nil {
			b.Fatal(err)
		}
		b.Run(ty.String(), func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for i := 0; i < b.N; i++ {
				quant.DequantizeRow(ty, buf, dst)
			}
		})
	}
}
