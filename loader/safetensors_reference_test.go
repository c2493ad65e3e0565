package loader

import (
	"bytes"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/quant"
)

// The proof that names, dims, types and the RoPE permutation are right: every
// tensor of the safetensors checkpoint equals, byte for byte, the same-named
// tensor of llama.cpp's F16 conversion, and the llama.* metadata agree.
func TestSafetensorsMatchesGGUF(t *testing.T) {
	gg, err := Open(testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer gg.Close()
	dir := filepath.Dir(testdata.Path(t, "austen-22m/config.json"))
	for _, src := range []string{dir, filepath.Join(dir, "model.safetensors.index.json")} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			st, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if st.Format != FormatSafetensors || len(st.Files) != 3 {
				t.Fatalf("format %q, %d files", st.Format, len(st.Files))
			}
			if len(st.Tensors) != len(gg.Tensors) {
				t.Errorf("%d tensors, GGUF has %d", len(st.Tensors), len(gg.Tensors))
			}
			for _, g := range gg.Tensors {
				s, ok := st.Tensor(g.Name)
				if !ok {
					t.Errorf("safetensors lacks %s", g.Name)
					continue
				}
				// llama.cpp keeps 1-D tensors (the norms) in F32 even in an
				// F16 file; compare those after exact F16->F32 widening.
				widen := s.Type == quant.F16 && g.Type == quant.F32 && len(g.Dims) == 1
				if !widen && (s.Type != g.Type || s.Size != g.Size) || !equalDims(s.Dims, g.Dims) {
					t.Errorf("%s: safetensors %s %v %d bytes, GGUF %s %v %d bytes", g.Name, s.Type, s.Dims, s.Size, g.Type, g.Dims, g.Size)
					continue
				}
				a, err := st.ReadTensor(g.Name)
				if err != nil {
					t.Fatal(err)
				}
				b, err := gg.ReadTensor(g.Name)
				if err != nil {
					t.Fatal(err)
				}
				if widen {
					a = widenF16(a)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("%s: bytes differ", g.Name)
				}
			}
			compared := 0
			for _, k := range gg.Meta.Keys() {
				if !strings.HasPrefix(k, "llama.") && k != "general.architecture" &&
					k != "tokenizer.ggml.bos_token_id" && k != "tokenizer.ggml.eos_token_id" {
					continue
				}
				gv, _ := gg.Meta.Get(k)
				sv, ok := st.Meta.Get(k)
				if !ok {
					t.Errorf("safetensors metadata lacks %s", k)
					continue
				}
				if gv.TypeName() != sv.TypeName() || gv.Short() != sv.Short() {
					t.Errorf("%s: safetensors %s %s, GGUF %s %s", k, sv.TypeName(), sv.Short(), gv.TypeName(), gv.Short())
				}
				compared++
			}
			if compared < 12 {
				t.Errorf("only %d metadata keys compared", compared)
			}
			// The permutation must be doing work: q/k as stored differ from GGUF.
			permuted := 0
			for _, s := range st.Tensors {
				if s.PermuteHeads == 0 {
					continue
				}
				permuted++
				raw := make([]byte, s.Size)
				if err := st.readRaw(s, raw); err != nil {
					t.Fatal(err)
				}
				if b, _ := gg.ReadTensor(s.Name); bytes.Equal(raw, b) {
					t.Errorf("%s: stored HF bytes already equal GGUF's; permutation untested", s.Name)
				}
			}
			if permuted != 16 {
				t.Errorf("%d permuted tensors, want 16 (q and k of 8 layers)", permuted)
			}
			if ps := st.Summary().Params; ps != 22679808 {
				t.Errorf("params %d", ps)
			}
		})
	}
}

func widenF16(b []byte) []byte {
	out := make([]byte, 0, 2*len(b))
	for i := 0; i+1 < len(b); i += 2 {
		f := quant.F16ToF32(binary.LittleEndian.Uint16(b[i:]))
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
	}
	return out
}
