package precision

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// Calibration is the text a measurement runs: token ids cut into windows of
// Window positions, each window's first id replaced by BOS and run on its
// own (llama-perplexity's chunks), every position's output compared.
type Calibration struct {
	Tokens []int32
	Window int
	BOS    int32
}

func (c Calibration) chunks() ([][]int32, error) {
	if c.Window < 2 {
		return nil, fmt.Errorf("precision: calibration window %d is below 2", c.Window)
	}
	var out [][]int32
	for lo := 0; lo+c.Window <= len(c.Tokens); lo += c.Window {
		w := append([]int32(nil), c.Tokens[lo:lo+c.Window]...)
		w[0] = c.BOS
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("precision: %d calibration tokens are fewer than one window of %d", len(c.Tokens), c.Window)
	}
	return out, nil
}

// Reference holds the reference model's output distributions (log-softmax
// per position) on a calibration text, to compare lowered models with.
type Reference struct {
	cfg    model.Config
	calib  Calibration
	chunks [][]int32
	logp   []float32 // positions × vocab
}

// NewReference runs src (normally the F16 model) on the calibration text.
func NewReference(dev kernels.Device, src model.TensorSource, cfg model.Config, calib Calibration) (*Reference, error) {
	chunks, err := calib.chunks()
	if err != nil {
		return nil, err
	}
	v := cfg.Vocab
	r := &Reference{cfg: cfg, calib: calib, chunks: chunks, logp: make([]float32, len(chunks)*calib.Window*v)}
	err = runChunks(dev, src, cfg, calib.Window, chunks, func(first int, logits []float32, n int) {
		parallelRows(n, func(i int) {
			pos := first + i
			logSoftmax(r.logp[pos*v:(pos+1)*v], logits[i*v:(i+1)*v])
		})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Positions is the number of output distributions compared.
func (r *Reference) Positions() int { return len(r.chunks) * r.calib.Window }

// KL is the mean over the calibration positions of KL(reference ‖ src), in
// nats: how far src's next-token distribution moves from the reference's.
func (r *Reference) KL(dev kernels.Device, src model.TensorSource) (float64, error) {
	v := r.cfg.Vocab
	kls := make([]float64, r.Positions())
	err := runChunks(dev, src, r.cfg, r.calib.Window, r.chunks, func(first int, logits []float32, n int) {
		parallelRows(n, func(i int) {
			pos := first + i
			q := logits[i*v : (i+1)*v]
			logSoftmax(q, q) // in place: the chunk buffer is not needed after this
			var kl float64
			for j, lp := range r.logp[pos*v : (pos+1)*v] {
				kl += math.Exp(float64(lp)) * float64(lp-q[j])
			}
			kls[pos] = kl
		})
	})
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, kl := range kls {
		sum += kl
	}
	// Rounding can take a near-zero KL a hair below zero.
	return max(0, sum/float64(len(kls))), nil
}

// parallelRows calls f(0..n-1) on all cores; it returns when every call
// has (the goroutines it starts end with it).
func parallelRows(n int, f func(i int)) {
	workers := max(1, min(runtime.GOMAXPROCS(0), n))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// runChunks builds an engine for src and, for each chunk, gathers the
// logits of all its positions and calls emit(first position, logits, n).
func runChunks(dev kernels.Device, src model.TensorSource, cfg model.Config, window int, chunks [][]int32, emit func(first int, logits []float32, n int)) error {
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: window, Batch: window})
	if err != nil {
		return err
	}
	defer e.Close()
	all := func(int) bool { return true }
	buf := make([]float32, window*cfg.Vocab)
	for ci, c := range chunks {
		err := e.Eval(c, 0, all, func(i int, l []float32) error {
			copy(buf[i*cfg.Vocab:(i+1)*cfg.Vocab], l)
			return nil
		})
		if err != nil {
			return err
		}
		emit(ci*window, buf, len(c))
	}
	return nil
}

func logSoftmax(dst, logits []float32) {
	lse := model.LogSumExp(logits)
	for i, x := range logits {
		dst[i] = float32(float64(x) - lse)
	}
}

// Probe is one (tensor, format) measurement, reported as it completes.
type Probe struct {
	Done, Total int
	Tensor      string
	Type        quant.Type
	Loss        float64
}

// Measure lowers each named tensor alone to each format and records the KL
// divergence from the reference (the proxy the adaptive policy minimises;
// precision_test validates it against perplexity). A format equal to the
// tensor's stored one costs nothing and is recorded with loss 0; formats
// the tensor's rows cannot hold are skipped. progress may be nil.
func Measure(dev kernels.Device, src model.TensorSource, ref *Reference, tensors []string, formats []quant.Type, progress func(Probe)) ([]quant.Sensitivity, error) {
	if len(formats) == 0 {
		return nil, fmt.Errorf("precision: no candidate formats to measure")
	}
	for _, t := range formats {
		if !quant.Supported(t) || t == quant.Q8_K {
			return nil, fmt.Errorf("precision: format %s cannot be used for weights here", t)
		}
	}
	base := newCached(src)
	total := len(tensors) * len(formats)
	done := 0
	out := make([]quant.Sensitivity, 0, len(tensors))
	for _, name := range tensors {
		info, ok := base.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("precision: the model has no tensor %q", name)
		}
		data, err := base.ReadTensor(name)
		if err != nil {
			return nil, err
		}
		s := quant.Sensitivity{Name: name}
		for _, t := range formats {
			done++
			loss, ok, err := probe(dev, base, ref, info, data, t)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			s.Candidates = append(s.Candidates, quant.Candidate{Type: t, Loss: loss})
			if progress != nil {
				progress(Probe{Done: done, Total: total, Tensor: name, Type: t, Loss: loss})
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func probe(dev kernels.Device, base *cached, ref *Reference, info loader.TensorInfo, data []byte, t quant.Type) (float64, bool, error) {
	if info.Type == t {
		return 0, true, nil
	}
	if info.Dims[0]%uint64(t.BlockElems()) != 0 {
		return 0, false, nil
	}
	ni, nd, err := Convert(info, data, t)
	if err != nil {
		return 0, false, err
	}
	o := NewOverlay(base)
	if err := o.Replace(ni, nd); err != nil {
		return 0, false, err
	}
	kl, err := ref.KL(dev, o)
	return kl, err == nil, err
}

// Matrices lists the names of a model's 2-D tensors: the ones a policy
// chooses formats for.
func Matrices(tensors []loader.TensorInfo) []string {
	var names []string
	for _, t := range tensors {
		if len(t.Dims) >= 2 && t.Elements() > t.Dims[0] {
			names = append(names, t.Name)
		}
	}
	return names
}
