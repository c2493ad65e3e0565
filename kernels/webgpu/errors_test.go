//go:build !js

package webgpu

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/quant"
)

// TestNoAdapter runs New in a child process whose Vulkan loader finds no
// driver: it must fail with ErrNoAdapter, not hang or pick the Software backend.
func TestNoAdapter(t *testing.T) {
	if os.Getenv("WEBGPU_NO_ADAPTER_CHILD") == "1" {
		d, err := New(Options{})
		if err == nil {
			d.Close()
			t.Fatalf("New succeeded with no Vulkan driver: %s", d.Name())
		}
		if !errors.Is(err, ErrNoAdapter) {
			t.Fatalf("New: %v (want ErrNoAdapter)", err)
		}
		t.Logf("error: %v", err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoAdapter$", "-test.v")
	cmd.Env = append(os.Environ(), "WEBGPU_NO_ADAPTER_CHILD=1", "VK_DRIVER_FILES=/nonexistent/icd.json", "VK_ICD_FILENAMES=/nonexistent/icd.json")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "error:") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

func TestClearErrors(t *testing.T) {
	d := open(t, Options{})
	if _, err := d.NewBuffer(1 << 30); err == nil || !strings.Contains(err.Error(), "binding limit") {
		t.Errorf("NewBuffer(1<<30): %v", err)
	}
	if _, err := d.UploadMatrix(quant.IQ2_XS, 1, 256, make([]byte, 74)); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("UploadMatrix IQ2_XS: %v", err)
	}
	if _, err := d.UploadMatrix(quant.Q8_0, 2, 64, make([]byte, 10)); err == nil {
		t.Errorf("UploadMatrix short data: no error")
	}
	m, err := d.UploadMatrix(quant.F32, 2, 32, make([]byte, 256))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d.NewBuffer(64)
	if err := d.Embed(b, m, []int32{2}); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("Embed out of range: %v", err)
	}
	if err := d.MatMul(b, m, b, 3); err == nil || !strings.Contains(err.Error(), "holds") {
		t.Errorf("MatMul too small: %v", err)
	}
	if _, _, err := d.TopK(b, 1, 64, 65); err == nil {
		t.Errorf("TopK k > cols: no error")
	}
	m.Release()
	if err := d.MatMul(b, m, b, 1); err == nil || !strings.Contains(err.Error(), "released") {
		t.Errorf("MatMul released matrix: %v", err)
	}
}

// TestReadDeadline: a wait that outlives Options.Timeout fails clearly and
// leaves the device refusing further work instead of hanging.
func TestReadDeadline(t *testing.T) {
	d := open(t, Options{Timeout: time.Nanosecond})
	b, err := d.NewBuffer(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Add(b, b, b, 1<<20); err != nil {
		t.Fatal(err)
	}
	err = d.Read(b, make([]float32, 16))
	if err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("Read with 1ns deadline: %v", err)
	}
	if err := d.Add(b, b, b, 16); err == nil {
		t.Fatalf("device still accepts work after a timed-out wait")
	}
	t.Logf("error: %v", err)
}

func TestClosed(t *testing.T) {
	d := open(t, Options{})
	b, _ := d.NewBuffer(4)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(b, []float32{1}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Write after Close: %v", err)
	}
	b.Release() // must not crash
}

// TestCopyThenReadInOneSubmit: an in-place op copies its input to scratch
// (scratch is a copy destination) and TopK then reads scratch back (a copy
// source); gogpu refuses both in one encoder, so the recorder must split.
func TestCopyThenReadInOneSubmit(t *testing.T) {
	d := open(t, Options{})
	w, err := d.UploadMatrix(quant.F32, 1, 32, make([]byte, 128))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Release()
	b, _ := d.NewBuffer(32)
	defer b.Release()
	if err := d.Write(b, make([]float32, 32)); err != nil {
		t.Fatal(err)
	}
	if err := d.RMSNorm(b, b, w, 1, 1e-5); err != nil {
		t.Fatal(err)
	}
	ids, _, err := d.TopK(b, 1, 32, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != 0 || ids[1] != 1 {
		t.Fatalf("TopK of zeros: %v", ids)
	}
}

// TestTuneRuns exercises the start-up shape timing (skipped on CPU adapters
// at New) on this adapter.
func TestTuneRuns(t *testing.T) {
	d := open(t, Options{})
	d.mu.Lock()
	el, err := d.timeShape(MatShape{TPR: 32, RPW: 2, RPT: 2})
	d.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2048×4096 Q4_K matvec with 32×2×2: %v", el)
	d.mu.Lock()
	delete(tunedTiled, d.name)
	ts, err := d.tuneTiled()
	d.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tiled matvec choice: %+v (%v)", ts, d.TuneLog())
}

// TestManySubmits records far more commands than one submit carries, each
// with its own parameters, so parameter-arena reuse across submits is
// exercised: every row must come from its own dispatch.
func TestManySubmits(t *testing.T) {
	d := open(t, Options{SubmitEvery: 7})
	const rows, cols = 50, 32
	data := make([]byte, rows*cols*4)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			binary.LittleEndian.PutUint32(data[(r*cols+c)*4:], math.Float32bits(float32(r*1000+c)))
		}
	}
	m, err := d.UploadMatrix(quant.F32, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	acc, _ := d.NewBuffer(cols)
	one, _ := d.NewBuffer(cols)
	if err := d.Write(acc, make([]float32, cols)); err != nil {
		t.Fatal(err)
	}
	var sum float32
	for i := 0; i < n; i++ {
		id := int32(i * 7 % rows)
		sum += float32(id) * 1000
		if err := d.Embed(one, m, []int32{id}); err != nil {
			t.Fatal(err)
		}
		if err := d.Add(acc, acc, one, cols); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]float32, cols)
	if err := d.Read(acc, got); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < cols; c++ {
		if want := sum + float32(n*c); got[c] != want {
			t.Fatalf("col %d: %v, want %v (a dispatch read another's parameters)", c, got[c], want)
		}
	}
	last := make([]float32, cols)
	if err := d.Read(one, last); err != nil {
		t.Fatal(err)
	}
	if want := float32(((n-1)*7%rows)*1000 + 3); last[3] != want {
		t.Fatalf("last embed: %v, want %v", last[3], want)
	}
}

// TestKVCacheZeroed: positions never stored read as zeros (finite output),
// not whatever the fresh GPU memory held.
func TestKVCacheZeroed(t *testing.T) {
	d := open(t, Options{})
	for _, ty := range kvTypes {
		c, err := d.NewKVCache(kernels.KVConfig{Layers: 1, Slots: 2, Context: 8, KVHeads: 1, HeadDim: 32, Type: ty})
		if err != nil {
			t.Fatal(err)
		}
		q, _ := d.NewBuffer(32)
		kv, _ := d.NewBuffer(32)
		o, _ := d.NewBuffer(32)
		ones := make([]float32, 32)
		for i := range ones {
			ones[i] = 1
		}
		d.Write(q, ones)
		d.Write(kv, ones)
		if err := d.Attention(o, q, kv, kv, c, 0, 1, []kernels.Seq{{Slot: 1, Pos: 3}}); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 32)
		if err := d.Read(o, got); err != nil {
			t.Fatal(err)
		}
		// Scores: 0 for the three zero keys, √32 for the stored one.
		e := math.Exp(math.Sqrt(32))
		want := float32(e / (e + 3))
		if math.Abs(float64(got[0]-want)) > 1e-3 {
			t.Errorf("%s: attention over unwritten positions: %v, want %v", ty, got[0], want)
		}
		c.Release()
		q.Release()
		kv.Release()
		o.Release()
	}
}
