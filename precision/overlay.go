package precision

import (
	"fmt"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
)

// Overlay is a model.TensorSource that serves some tensors from memory (in
// a new format) and the rest from a base source. Engines keep the slices
// ReadTensor returns, so replaced tensors are shared, never rewritten.
type Overlay struct {
	base     model.TensorSource
	replaced map[string]converted
}

type converted struct {
	info loader.TensorInfo
	data []byte
}

// NewOverlay serves base unchanged until Replace is called.
func NewOverlay(base model.TensorSource) *Overlay {
	return &Overlay{base: base, replaced: map[string]converted{}}
}

// Replace serves data (already in info.Type) for the tensor info.Name.
func (o *Overlay) Replace(info loader.TensorInfo, data []byte) error {
	if _, ok := o.base.Tensor(info.Name); !ok {
		return fmt.Errorf("precision: overlay: base has no tensor %q", info.Name)
	}
	if int64(len(data)) != info.Size {
		return fmt.Errorf("precision: overlay: tensor %q is %d bytes, data is %d", info.Name, info.Size, len(data))
	}
	o.replaced[info.Name] = converted{info, data}
	return nil
}

// Tensor implements model.TensorSource.
func (o *Overlay) Tensor(name string) (loader.TensorInfo, bool) {
	if c, ok := o.replaced[name]; ok {
		return c.info, true
	}
	return o.base.Tensor(name)
}

// ReadTensor implements model.TensorSource.
func (o *Overlay) ReadTensor(name string) ([]byte, error) {
	if c, ok := o.replaced[name]; ok {
		return c.data, nil
	}
	return o.base.ReadTensor(name)
}

// cached reads every tensor of src once, so repeated engine builds during
// a measurement do not re-read the file.
type cached struct {
	src  model.TensorSource
	data map[string][]byte
}

func newCached(src model.TensorSource) *cached {
	return &cached{src: src, data: map[string][]byte{}}
}

func (c *cached) Tensor(name string) (loader.TensorInfo, bool) { return c.src.Tensor(name) }

func (c *cached) ReadTensor(name string) ([]byte, error) {
	if d, ok := c.data[name]; ok {
		return d, nil
	}
	d, err := c.src.ReadTensor(name)
	if err != nil {
		return nil, err
	}
	c.data[name] = d
	return d, nil
}
