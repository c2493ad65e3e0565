package precision

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// Convert re-encodes a tensor's data from info.Type to t, row by row on
// all cores (dequantize to f32, then quant.Quantize, which matches
// llama.cpp's reference quantizers byte for byte). Data already in t is
// returned as is. The returned info has the new type and size.
func Convert(info loader.TensorInfo, data []byte, t quant.Type) (loader.TensorInfo, []byte, error) {
	if len(info.Dims) == 0 {
		return info, nil, fmt.Errorf("precision: tensor %q has no dims", info.Name)
	}
	if int64(len(data)) != info.Size {
		return info, nil, fmt.Errorf("precision: tensor %q is %d bytes, data is %d", info.Name, info.Size, len(data))
	}
	if info.Type == t {
		return info, data, nil
	}
	cols := int(info.Dims[0])
	rows := int(info.Elements() / info.Dims[0])
	inRow, err := info.Type.RowBytes(cols)
	if err != nil {
		return info, nil, fmt.Errorf("precision: tensor %q: %w", info.Name, err)
	}
	outRow, err := t.RowBytes(cols)
	if err != nil {
		return info, nil, fmt.Errorf("precision: tensor %q to %s: %w", info.Name, t, err)
	}
	if !quant.Supported(info.Type) || !quant.Supported(t) {
		return info, nil, fmt.Errorf("precision: tensor %q: cannot convert %s to %s", info.Name, info.Type, t)
	}
	out := make([]byte, rows*outRow)
	workers := max(1, min(runtime.GOMAXPROCS(0), rows))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := rows*w/workers, rows*(w+1)/workers
		wg.Add(1)
		go func() { // exits when its rows are done; Convert waits for it
			defer wg.Done()
			f := make([]float32, cols)
			for r := lo; r < hi; r++ {
				if err := quant.Dequantize(info.Type, data[r*inRow:(r+1)*inRow], f); err != nil {
					errs[w] = err
					return
				}
				if err := quant.Quantize(t, f, out[r*outRow:(r+1)*outRow]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return info, nil, fmt.Errorf("precision: tensor %q to %s: %w", info.Name, t, err)
		}
	}
	info.Type, info.Size = t, int64(len(out))
	return info, out, nil
}

// Specs lists a model's tensors as the policy sees them.
func Specs(tensors []loader.TensorInfo) []quant.TensorSpec {
	s := make([]quant.TensorSpec, len(tensors))
	for i, t := range tensors {
		s[i] = quant.TensorSpec{Name: t.Name, Dims: t.Dims}
	}
	return s
}

// Apply returns a source serving every tensor of tensors in the format plan
// gives it (converted now, in memory).
func Apply(src model.TensorSource, plan quant.Plan) (*Overlay, error) {
	o := NewOverlay(src)
	for _, p := range plan.Tensors {
		info, ok := src.Tensor(p.Name)
		if !ok {
			return nil, fmt.Errorf("precision: plan names tensor %q, which the model does not have", p.Name)
		}
		if info.Type == p.Type {
			continue
		}
		data, err := src.ReadTensor(p.Name)
		if err != nil {
			return nil, err
		}
		ni, nd, err := Convert(info, data, p.Type)
		if err != nil {
			return nil, err
		}
		if err := o.Replace(ni, nd); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// AsStored is the plan that keeps every tensor in its stored format: the
// reference row of an analysis.
func AsStored(tensors []loader.TensorInfo) quant.Plan {
	p := quant.Plan{Name: "as stored"}
	for _, t := range tensors {
		role, layer := quant.ClassifyTensor(t.Name)
		if len(t.Dims) < 2 || t.Elements() == t.Dims[0] {
			role = quant.RoleNorm
		}
		p.Tensors = append(p.Tensors, quant.Planned{
			TensorSpec: quant.TensorSpec{Name: t.Name, Dims: t.Dims},
			Role:       role, Layer: layer, Type: t.Type, Bytes: uint64(t.Size),
		})
	}
	return p
}
