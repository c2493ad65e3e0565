package loader_test

import (
	"slices"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
)

// A node that holds only some blobs derives the full config and tokenizer
// and loads its layers with model.LoadLayers; an engine over all blobs
// computes exactly the logits of one over the file.
func TestBlobSourceLoadsLayers(t *testing.T) {
	file, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	blobs := map[string][]byte{}
	man, err := loader.BuildBlobs(file, "austen-22m-Q4_K_M", func(ref loader.BlobRef, b []byte) error { blobs[ref.Name] = b; return nil })
	if err != nil {
		t.Fatal(err)
	}
	want, err := model.ConfigFromMeta(&file.Meta, file.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := cpu.New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()

	open := func(first, last int) *loader.BlobSource {
		src, err := loader.NewBlobSource(man)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := man.BlobsFor(first, last)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			if err := src.AddBytes(r.Name, blobs[r.Name]); err != nil {
				t.Fatal(err)
			}
		}
		return src
	}

	mid := open(2, 5)
	meta, err := mid.Meta()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFromMeta(meta, mid.Tensors())
	if err != nil || cfg != want {
		t.Fatalf("config from blobs %+v %v, want %+v", cfg, err, want)
	}
	if _, err := model.TokenizerFromGGUF(*meta); err != nil {
		t.Fatal(err)
	}
	layers, err := model.LoadLayers(dev, mid, cfg, model.Part{First: 2, Last: 5})
	if err != nil {
		t.Fatal(err)
	}
	layers.Release()
	if _, err := model.LoadLayers(dev, mid, cfg, model.Part{First: 0, Last: 5}); err == nil {
		t.Fatal("loaded layers whose blobs are absent")
	}

	logits := func(src model.TensorSource) []float32 {
		e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		var out []float32
		ids := []int32{1, 450, 4799, 310}
		if err := e.Eval(ids, 0, func(i int) bool { return i == len(ids)-1 }, func(_ int, l []float32) error {
			out = append([]float32(nil), l...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if a, b := logits(file), logits(open(0, cfg.Layers)); !slices.Equal(a, b) {
		t.Fatal("logits through blobs differ from the file's")
	}
}
