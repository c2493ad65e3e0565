package precision

import (
	"bytes"
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

func TestConvertMatchesQuantize(t *testing.T) {
	const cols, rows = 512, 7
	r := rand.New(rand.NewSource(1))
	f := make([]float32, cols*rows)
	for i := range f {
		f[i] = float32(r.NormFloat64() * 0.05)
	}
	src := make([]byte, 2*len(f))
	if err := quant.Quantize(quant.F16, f, src); err != nil {
		t.Fatal(err)
	}
	info := loader.TensorInfo{Name: "w", Type: quant.F16, Dims: []uint64{cols, rows}, Size: int64(len(src))}
	back := make([]float32, len(f))
	if err := quant.Dequantize(quant.F16, src, back); err != nil {
		t.Fatal(err)
	}
	for _, to := range []quant.Type{quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q4_0, quant.Q8_0} {
		ni, got, err := Convert(info, src, to)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := to.TensorBytes(uint64(len(f)))
		want := make([]byte, n)
		if err := quant.Quantize(to, back, want); err != nil {
			t.Fatal(err)
		}
		if ni.Type != to || ni.Size != int64(n) || !bytes.Equal(got, want) {
			t.Errorf("%s: converted bytes differ from quant.Quantize of the dequantized rows", to)
		}
	}
	if _, _, err := Convert(loader.TensorInfo{Name: "odd", Type: quant.F16, Dims: []uint64{96, 2}, Size: 384}, make([]byte, 384), quant.Q4_K); err == nil {
		t.Error("96-wide rows converted to Q4_K")
	}
}

func openF16(t *testing.T) (*loader.Model, model.Config, *model.Tokenizer) {
	t.Helper()
	src, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := model.TokenizerFromGGUF(src.Meta)
	if err != nil {
		t.Fatal(err)
	}
	return src, cfg, tok
}

// TestWriteGGUFRoundTrip writes a mix, reads it back with the loader and
// generates from it.
func TestWriteGGUFRoundTrip(t *testing.T) {
	src, cfg, tok := openF16(t)
	pol, _ := quant.ProfileMemory.Policy()
	plan, err := pol.Apply(Specs(src.Tensors))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := WriteGGUF(&buf, src, nil, plan)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteGGUF reports %d bytes, wrote %d", n, buf.Len())
	}
	m, err := loader.OpenGGUF(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var tensorBytes uint64
	for i, ti := range m.Tensors {
		if ti.Name != plan.Tensors[i].Name || ti.Type != plan.Tensors[i].Type {
			t.Fatalf("tensor %d: %s %s, planned %s %s", i, ti.Name, ti.Type, plan.Tensors[i].Name, plan.Tensors[i].Type)
		}
		tensorBytes += uint64(ti.Size)
	}
	if tensorBytes != plan.Bytes() {
		t.Errorf("file holds %d tensor bytes, plan says %d", tensorBytes, plan.Bytes())
	}
	if m.Meta.Has("general.file_type") {
		t.Error("a mix kept general.file_type")
	}
	dev, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	e, err := model.NewEngine(dev, m, cfg, model.EngineOptions{Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out []int32
	err = e.Generate(context.Background(), tok.Encode("It is a truth universally acknowledged", true), 8, -1,
		model.NewSampler(model.SamplerConfig{Temperature: 0, RepeatPenalty: 1}), func(id int32, _ float32) bool { out = append(out, id); return true })
	if err != nil || len(out) != 8 {
		t.Fatalf("generate: %v (%d tokens)", err, len(out))
	}
	t.Logf("memory profile, %d bytes: %q", plan.Bytes(), tok.Decode(out))
}

// TestKLProxy checks the measurement's basic properties on a short text:
// the KL grows as a tensor's format gets coarser, and the KL of two
// tensors lowered together is close to the sum of their separate KLs
// (what the adaptive knapsack assumes).
func TestKLProxy(t *testing.T) {
	src, cfg, tok := openF16(t)
	ids := tok.Encode("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered as the rightful property of some one or other of their daughters.", false)
	calib := Calibration{Tokens: ids[:64], Window: 64, BOS: tok.BOS()}
	dev, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	ref, err := NewReference(dev, src, cfg, calib)
	if err != nil {
		t.Fatal(err)
	}
	sens, err := Measure(dev, src, ref, []string{"output.weight", "blk.0.ffn_down.weight"}, []quant.Type{quant.Q2_K, quant.Q4_K, quant.Q8_0, quant.F16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sens {
		l := map[quant.Type]float64{}
		for _, c := range s.Candidates {
			l[c.Type] = c.Loss
		}
		t.Logf("%s: %v", s.Name, l)
		if !(l[quant.Q2_K] > l[quant.Q4_K] && l[quant.Q4_K] > l[quant.Q8_0] && l[quant.F16] == 0) {
			t.Errorf("%s: KL does not fall with precision: %v", s.Name, l)
		}
	}
	plan, err := quant.Policy{Name: "pair", Formats: quant.Uniform(quant.F16), Tensors: []quant.TensorFormat{
		{Name: "output.weight", Type: quant.Q2_K}, {Name: "blk.0.ffn_down.weight", Type: quant.Q2_K}}}.Apply(Specs(src.Tensors))
	if err != nil {
		t.Fatal(err)
	}
	both, err := Apply(src, plan)
	if err != nil {
		t.Fatal(err)
	}
	joint, err := ref.KL(dev, both)
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := quant.PredictedLoss(plan, sens)
	t.Logf("KL lowered together %.5f, sum of separate %.5f", joint, sum)
	if math.Abs(joint-sum) > 0.35*sum {
		t.Errorf("KL of the pair %.5f is far from the sum of the parts %.5f", joint, sum)
	}
}

func TestSensitivityFileAndMerge(t *testing.T) {
	in := []quant.Sensitivity{{Name: "output.weight", Candidates: []quant.Candidate{{Type: quant.Q2_K, Loss: 0.08}, {Type: quant.Q6_K, Loss: 0.0003}}}}
	var buf bytes.Buffer
	if err := WriteSensitivities(&buf, "m", "calib", in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadSensitivities(&buf)
	if err != nil || len(out) != 1 || len(out[0].Candidates) != 2 || out[0].Candidates[0] != in[0].Candidates[0] {
		t.Fatalf("round trip: %v %+v", err, out)
	}
	for _, bad := range []string{
		`{"tensors":[{"name":"x","loss":{"Q9_Z":0.1}}]}`,
		`{"tensors":[{"name":"x","loss":{"Q4_K":-1}}]}`,
		`{"tensors":[{"name":"","loss":{}}]}`,
	} {
		if _, err := ReadSensitivities(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	ref := Row{Name: "reference", KV: "F32", Bytes: 10, PPL: 5}
	rows, err := Merge([][]Row{{ref, {Name: "a"}}, {ref, {Name: "b"}}})
	if err != nil || len(rows) != 3 {
		t.Fatalf("merge: %v, %d rows", err, len(rows))
	}
	other := ref
	other.PPL = 6
	if _, err := Merge([][]Row{{ref}, {other}}); err == nil {
		t.Error("merged parts with different references")
	}
}
