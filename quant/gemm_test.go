package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// TestMatMulF32 checks every output of MatMulF32 against a float64 dot, on
// shapes that exercise the tile remainders (weight rows not a multiple of 4,
// activation rows not a multiple of 3, widths not a multiple of 8), and that
// an output does not depend on the other rows of the batch.
func TestMatMulF32(t *testing.T) {
	for _, wide := range []bool{true, false} {
		old := quant.SetGemmAVX512(wide)
		testMatMulF32(t)
		quant.SetGemmAVX512(old)
	}
}

func testMatMulF32(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, cols := range []int{1, 5, 8, 13, 32, 64, 256, 261} {
		for _, nw := range []int{1, 3, 4, 7, 8} {
			for _, nx := range []int{1, 2, 3, 4, 5, 8} {
				w := randomWeights(r, nw*cols)
				x := randomWeights(r, nx*cols)
				stride := nw + 3
				dst := make([]float32, (nx-1)*stride+nw)
				if err := quant.MatMulF32(w, x, cols, dst, stride); err != nil {
					t.Fatal(err)
				}
				for j := 0; j < nx; j++ {
					// The same row alone must give the same bits.
					alone := make([]float32, nw)
					if err := quant.MatMulF32(w, x[j*cols:(j+1)*cols], cols, alone, nw); err != nil {
						t.Fatal(err)
					}
					for i := 0; i < nw; i++ {
						var ref, mag float64
						for k := 0; k < cols; k++ {
							p := float64(w[i*cols+k]) * float64(x[j*cols+k])
							ref += p
							mag += math.Abs(p)
						}
						got := dst[j*stride+i]
						if math.Abs(float64(got)-ref) > 1e-6*mag+1e-30 {
							t.Fatalf("cols %d, %d×%d: out[%d][%d] = %v, float64 dot %v", cols, nw, nx, j, i, got, ref)
						}
						if alone[i] != got {
							t.Fatalf("cols %d, %d×%d: out[%d][%d] = %v in the batch, %v alone", cols, nw, nx, j, i, got, alone[i])
						}
					}
				}
			}
		}
	}
}

func TestMatMulF32Errors(t *testing.T) {
	w, x := make([]float32, 8), make([]float32, 8)
	for _, c := range []struct {
		name   string
		cols   int
		dst    []float32
		stride int
	}{
		{"zero width", 0, make([]float32, 4), 1},
		{"partial rows", 3, make([]float32, 4), 4},
		{"narrow stride", 4, make([]float32, 4), 1},
		{"short dst", 4, make([]float32, 3), 2},
	} {
		if err := quant.MatMulF32(w, x, c.cols, c.dst, c.stride); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// BenchmarkMatMulF32 is the batched kernel on a 16×768 weight panel against
// 64 activation rows; MB/s counts activation bytes.
// (avx512 where the CPU has it, else the same as vec).
func BenchmarkMatMulF32(b *testing.B) {
	const cols, nw, nx = 768, 16, 64
	r := rand.New(rand.NewPCG(23, 24))
	w, x := randomWeights(r, nw*cols), randomWeights(r, nx*cols)
	dst := make([]float32, nw*nx)
	for _, wide := range []bool{false, true} {
		name := map[bool]string{false: "vec", true: "avx512"}[wide]
		b.Run(name, func(b *testing.B) {
			old := quant.SetGemmAVX512(wide)
			defer quant.SetGemmAVX512(old)
			b.SetBytes(4 * nx * cols)
			for i := 0; i < b.N; i++ {
				_ = quant.MatMulF32(w, x, cols, dst, nw)
			}
			b.ReportMetric(float64(nw*nx*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
