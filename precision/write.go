package precision

import (
	"fmt"
	"io"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/quant"
)

// WriteGGUF converts every tensor of src to the format plan gives it and
// writes a GGUF v3 file: src's metadata (with tokenizer keys taken from
// vocab when src has none, as safetensors checkpoints do; vocab may be
// nil), the tensors in src's order. Tensors are converted one at a time,
// so memory stays near one tensor's size. It returns the bytes written.
func WriteGGUF(w io.Writer, src *loader.Model, vocab *loader.Metadata, plan quant.Plan) (int64, error) {
	if len(plan.Tensors) != len(src.Tensors) {
		return 0, fmt.Errorf("precision: plan has %d tensors, the model %d", len(plan.Tensors), len(src.Tensors))
	}
	meta := src.Meta.KVs()
	if !src.Meta.Has("tokenizer.ggml.tokens") && vocab != nil {
		for _, kv := range vocab.KVs() {
			if len(kv.Key) > 10 && kv.Key[:10] == "tokenizer." {
				meta = loader.SetKV(meta, kv.Key, kv.Value)
			}
		}
	}
	if ft, ok := fileType(plan); ok {
		meta = loader.SetKV(meta, "general.file_type", loader.Uint32Value(ft))
	} else {
		// A mix: without the key llama.cpp names the file from its tensors.
		meta = loader.DeleteKV(meta, "general.file_type")
	}
	meta = loader.SetKV(meta, "general.quantization_version", loader.Uint32Value(2))
	specs := make([]loader.TensorSpec, len(src.Tensors))
	for i, t := range src.Tensors {
		p := plan.Tensors[i]
		if p.Name != t.Name {
			return 0, fmt.Errorf("precision: plan tensor %d is %q, the model's is %q", i, p.Name, t.Name)
		}
		specs[i] = loader.TensorSpec{Name: t.Name, Type: p.Type, Dims: t.Dims}
	}
	g, err := loader.NewGGUFWriter(w, meta, specs)
	if err != nil {
		return 0, err
	}
	for i, t := range src.Tensors {
		data, err := src.ReadTensor(t.Name)
		if err != nil {
			return g.Written(), err
		}
		_, out, err := Convert(t, data, specs[i].Type)
		if err != nil {
			return g.Written(), err
		}
		if err := g.WriteTensor(out); err != nil {
			return g.Written(), err
		}
	}
	return g.Written(), g.Finish()
}

// fileType is llama.cpp's llama_ftype for a plan whose matrices share one
// format; false for a mix.
func fileType(plan quant.Plan) (uint32, bool) {
	ftypes := map[quant.Type]uint32{
		quant.F32: 0, quant.F16: 1, quant.Q4_0: 2, quant.Q4_1: 3, quant.Q8_0: 7, quant.Q5_0: 8,
		quant.Q5_1: 9, quant.Q2_K: 10, quant.Q3_K: 11, quant.Q4_K: 14, quant.Q5_K: 16, quant.Q6_K: 18, quant.BF16: 32,
	}
	var only quant.Type
	first := true
	for _, t := range plan.Tensors {
		if t.Role == quant.RoleNorm {
			continue
		}
		if !first && t.Type != only {
			return 0, false
		}
		only, first = t.Type, false
	}
	ft, ok := ftypes[only]
	return ft, ok && !first
}
