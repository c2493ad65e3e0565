package webgpu

import (
	"fmt"
	"sync"
	"time"

	"github.com/tabshard/tabshard/quant"
)

// Matrix workgroup shapes are chosen per adapter by timing a Q4_K
// matrix×vector with each candidate when the first device on that adapter
// opens; the winner is cached for the process (keyed by adapter name).
var (
	tunedMu sync.Mutex
	tuned   = map[string]MatShape{}
)

// cpuShape is lavapipe's: small workgroups with many rows (PLATFORM.md).
var cpuShape = MatShape{TPR: 4, RPW: 8, RPT: 1}

// shapeCandidates were the best few of an H200 sweep (cmd/gpubench -shapes),
// plus the CPU shape for software adapters that do not say they are CPUs.
var shapeCandidates = []MatShape{{TPR: 64, RPW: 1, RPT: 4}, {TPR: 32, RPW: 2, RPT: 2}, {TPR: 128, RPW: 1, RPT: 2}, {TPR: 32, RPW: 1, RPT: 4}, cpuShape}

// chooseShape returns the shape to build the matrix kernels with.
func (d *Device) chooseShape() (MatShape, error) {
	if d.shape != (MatShape{}) {
		if !d.shape.valid() {
			return MatShape{}, fmt.Errorf("webgpu: matrix workgroup shape %+v: TPR must be a power of two, TPR·RPW ≤ 256, 1 ≤ RPT ≤ 16, TPR·RPW·RPT ≤ 512", d.shape)
		}
		return d.shape, nil
	}
	if d.cpuLike {
		return cpuShape, nil
	}
	tunedMu.Lock()
	defer tunedMu.Unlock()
	if s, ok := tuned[d.name]; ok {
		return s, nil
	}
	best, bestT := shapeCandidates[0], time.Duration(1<<62)
	for _, s := range shapeCandidates {
		t, err := d.timeShape(s)
		if err != nil {
			return MatShape{}, fmt.Errorf("webgpu: timing matrix shape %+v: %w", s, err)
		}
		d.tuneLog = append(d.tuneLog, fmt.Sprintf("%dx%dx%d: %v", s.TPR, s.RPW, s.RPT, t))
		if t < bestT {
			best, bestT = s, t
		}
	}
	tuned[d.name] = best
	return best, nil
}

// timeShape times a 2048×4096 Q4_K matrix×vector (arbitrary bytes: the
// values do not change the work) built with shape s: best of 3 rounds of 8.
func (d *Device) timeShape(s MatShape) (time.Duration, error) {
	common, err := snippet("formats.wgsl", "common", nil)
	if err != nil {
		return 0, err
	}
	deq, err := snippet("formats.wgsl", "Q4_K", nil)
	if err != nil {
		return 0, err
	}
	k, err := d.classicKernel(s, common, deq)
	if err != nil {
		return 0, err
	}
	defer d.dropKernel(k)
	const rows, cols = 2048, 4096
	rs, _ := rowWords(quant.Q4_K, cols)
	data := make([]byte, rows*rs*4)
	seed := uint32(1)
	for i := range data {
		seed = seed*1664525 + 1013904223
		data[i] = byte(seed >> 24)
	}
	sp, done, err := d.tuneBuffers(data, rows, cols)
	if err != nil {
		return 0, err
	}
	defer done()
	p := []uint32{rows, cols / 32, uint32(rs), 0, 1, rows, 0, cols / 4}
	return d.timeKernel(k, p, sp, uint32(ceilDiv(rows, s.rowsPerGroup(1))), sp[2])
}

// tuneBuffers uploads weights and a zero x of cols values, makes a y of
// rows values, and returns them as spans (weights, x, y) with their release.
func (d *Device) tuneBuffers(weights []byte, rows, cols int) ([]span, func(), error) {
	var sp []span
	done := func() {
		for _, s := range sp {
			d.releaseGPU(s.buf, s.id)
		}
	}
	for _, b := range []struct {
		name string
		data []byte
	}{{"tune weights", weights}, {"tune x", make([]byte, cols*4)}, {"tune y", nil}} {
		size := uint64(len(b.data))
		if b.data == nil {
			size = uint64(rows * 4)
		}
		s, err := d.tempBuffer(b.name, size)
		if err != nil {
			done()
			return nil, nil, err
		}
		sp = append(sp, s)
		if b.data != nil {
			d.unfenced = true
			if err := d.queue.WriteBuffer(s.buf, 0, b.data); err != nil {
				done()
				return nil, nil, d.fail("tuning upload", err)
			}
		}
	}
	return sp, done, nil
}

// TuneLog lists the timings behind the chosen matrix shape (empty when the
// shape was fixed, cached or a CPU adapter's).
func (d *Device) TuneLog() []string { return d.tuneLog }
