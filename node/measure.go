package node

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
	"github.com/tabshard/tabshard/swarm"
)

// Measure reports a device's capabilities from a short benchmark: the
// weight bandwidth of a Q4_K matrix×vector (decode) and the throughput of a
// batched matmul (prefill). budget 0 offers half the memory the Go runtime
// can see on a native node (the caller should pass a real budget in a tab).
func Measure(dev kernels.Device, budget uint64) (*swarm.Capabilities, error) {
	const measureRounds = 5
	const rows, cols, batch = 1024, 1024, 32
	// Random Q4_K blocks: the timing does not depend on the values, only
	// the two f16 block scales must be finite (the first 4 bytes).
	rb, _ := quant.Q4_K.RowBytes(cols)
	w := make([]byte, rows*rb)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range w {
		w[i] = byte(rng.Uint32())
	}
	scale := quant.F32ToF16(0.01)
	for b := 0; b < len(w); b += quant.Q4_K.BlockBytes() {
		binary.LittleEndian.PutUint16(w[b:], scale)
		binary.LittleEndian.PutUint16(w[b+2:], scale)
	}
	m, err := dev.UploadMatrix(quant.Q4_K, rows, cols, w)
	if err != nil {
		return nil, fmt.Errorf("node: measuring the device: %w", err)
	}
	defer m.Release()
	x, err := dev.NewBuffer(batch * cols)
	if err != nil {
		return nil, err
	}
	defer x.Release()
	y, err := dev.NewBuffer(batch * rows)
	if err != nil {
		return nil, err
	}
	defer y.Release()
	if err := dev.Write(x, make([]float32, batch*cols)); err != nil {
		return nil, err
	}
	sink := make([]float32, 1)
	// The best of measureRounds rounds: a round of about a millisecond is
	// easily slowed by whatever else runs (nodes starting together on one
	// machine measured speeds apart by half, and the planner then piled
	// layers onto whichever looked fastest).
	timeIt := func(n int, op func() error) (time.Duration, error) {
		if err := op(); err != nil { // warm up
			return 0, err
		}
		var best time.Duration
		for r := 0; r < measureRounds; r++ {
			start := time.Now()
			for i := 0; i < n; i++ {
				if err := op(); err != nil {
					return 0, err
				}
			}
			if err := dev.Read(y, sink); err != nil {
				return 0, err
			}
			if el := time.Since(start) / time.Duration(n); r == 0 || el < best {
				best = el
			}
		}
		return best, nil
	}
	vec, err := timeIt(20, func() error { return dev.MatMul(y, m, x, 1) })
	if err != nil {
		return nil, err
	}
	mat, err := timeIt(5, func() error { return dev.MatMul(y, m, x, batch) })
	if err != nil {
		return nil, err
	}
	if budget == 0 {
		budget = defaultBudget()
	}
	return &swarm.Capabilities{
		Backend:           backendOf(dev),
		MemoryBudgetBytes: budget,
		MatvecGBps:        float64(len(w)) / vec.Seconds() / 1e9,
		MatmulGFLOPS:      2 * rows * cols * batch / mat.Seconds() / 1e9,
		CPUCores:          runtime.NumCPU(),
	}, nil
}

func backendOf(dev kernels.Device) string {
	if b, ok := dev.(interface{ Backend() string }); ok {
		return b.Backend()
	}
	return "cpu"
}
