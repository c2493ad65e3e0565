package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
)

// ggufKV is one metadata entry for buildGGUF: v is a string, uint32, int32,
// float32, bool, or a slice of string, int32 or float32.
type ggufKV struct {
	key string
	v   any
}

// buildGGUF writes a tensor-less GGUF v3 file holding kvs and opens it with
// the loader, so TokenizerFromGGUF sees real parsed metadata.
func buildGGUF(t *testing.T, kvs ...ggufKV) (loader.Metadata, error) {
	t.Helper()
	var b bytes.Buffer
	le := func(x any) { binary.Write(&b, binary.LittleEndian, x) }
	str := func(s string) { le(uint64(len(s))); b.WriteString(s) }
	b.WriteString("GGUF")
	le(uint32(3))
	le(uint64(0))
	le(uint64(len(kvs)))
	for _, kv := range kvs {
		str(kv.key)
		switch v := kv.v.(type) {
		case string:
			le(uint32(8))
			str(v)
		case uint32:
			le(uint32(4))
			le(v)
		case int32:
			le(uint32(5))
			le(v)
		case float32:
			le(uint32(6))
			le(v)
		case bool:
			le(uint32(7))
			le(v)
		case []string:
			le(uint32(9))
			le(uint32(8))
			le(uint64(len(v)))
			for _, s := range v {
				str(s)
			}
		case []int32:
			le(uint32(9))
			le(uint32(5))
			le(uint64(len(v)))
			le(v)
		case []float32:
			le(uint32(9))
			le(uint32(6))
			le(uint64(len(v)))
			le(v)
		default:
			t.Fatalf("buildGGUF: unsupported %T", v)
		}
	}
	m, err := loader.OpenGGUF(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		return loader.Metadata{}, err
	}
	return m.Meta, nil
}

// miniVocabKVs is a small but complete SPM vocabulary: specials, bytes,
// "▁", "H", "i", "▁H", "▁Hi".
func miniVocabKVs() []ggufKV {
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{TokenTypeUnknown, TokenTypeControl, TokenTypeControl}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, TokenTypeByte)
	}
	for _, s := range []string{"▁", "H", "i", "▁H", "▁Hi"} {
		tokens = append(tokens, s)
		types = append(types, TokenTypeNormal)
	}
	scores := make([]float32, len(tokens))
	for i := range scores {
		scores[i] = -float32(i)
	}
	return []ggufKV{
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
	}
}

// with returns kvs with key set to v (replaced or added), or removed when v
// is nil.
func with(kvs []ggufKV, key string, v any) []ggufKV {
	out := slices.DeleteFunc(slices.Clone(kvs), func(kv ggufKV) bool { return kv.key == key })
	if v != nil {
		out = append(out, ggufKV{key, v})
	}
	return out
}

func TestTokenizerFromGGUFDefaults(t *testing.T) {
	meta, err := buildGGUF(t, miniVocabKVs()...)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := TokenizerFromGGUF(meta)
	if err != nil {
		t.Fatal(err)
	}
	// llama.cpp's SPM defaults: BOS 1, EOS 2, UNK 0, add BOS, space prefix.
	if tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || !tok.AddBOS() {
		t.Fatalf("defaults: BOS %d EOS %d UNK %d addBOS %v", tok.BOS(), tok.EOS(), tok.UNK(), tok.AddBOS())
	}
	hi := int32(259 + 4)
	if got := tok.Encode("Hi", true); !slices.Equal(got, []int32{1, hi}) {
		t.Fatalf("Encode(Hi) = %v", got)
	}

	// No space prefix, integer scores, explicit ids.
	kvs := with(miniVocabKVs(), "tokenizer.ggml.add_space_prefix", false)
	kvs = with(kvs, "tokenizer.ggml.add_bos_token", false)
	kvs = with(kvs, "tokenizer.ggml.eos_token_id", uint32(1))
	ints := make([]int32, 264)
	for i := range ints {
		ints[i] = -int32(i)
	}
	kvs = with(kvs, "tokenizer.ggml.scores", ints)
	if meta, err = buildGGUF(t, kvs...); err != nil {
		t.Fatal(err)
	}
	if tok, err = TokenizerFromGGUF(meta); err != nil {
		t.Fatal(err)
	}
	if tok.AddBOS() || tok.EOS() != 1 {
		t.Fatalf("addBOS %v EOS %d", tok.AddBOS(), tok.EOS())
	}
	// "Hi" without "▁": H and i stay apart ("Hi" is no token).
	if got := tok.Encode("Hi", false); !slices.Equal(got, []int32{260, 261}) {
		t.Fatalf("Encode(Hi) without prefix = %v", got)
	}
}

func TestTokenizerFromGGUFRejects(t *testing.T) {
	base := miniVocabKVs()
	cases := map[string][]ggufKV{
		"not SPM":            with(base, "tokenizer.ggml.model", "gpt2"),
		"no model":           with(base, "tokenizer.ggml.model", nil),
		"no tokens":          with(base, "tokenizer.ggml.tokens", nil),
		"tokens not strings": with(base, "tokenizer.ggml.tokens", []int32{1, 2}),
		"short scores":       with(base, "tokenizer.ggml.scores", []float32{0, 0}),
		"short types":        with(base, "tokenizer.ggml.token_type", []int32{2, 3}),
		"NaN score":          with(base, "tokenizer.ggml.scores", append(make([]float32, 263), float32(math.NaN()))),
		"BOS out of range":   with(base, "tokenizer.ggml.bos_token_id", uint32(264)),
		"UNK negative":       with(base, "tokenizer.ggml.unknown_token_id", int32(-1)),
		"add BOS not bool":   with(base, "tokenizer.ggml.add_bos_token", "yes"),
		"prefix not bool":    with(base, "tokenizer.ggml.add_space_prefix", uint32(1)),
		"scores are strings": with(base, "tokenizer.ggml.scores", []string{"a"}),
	}
	for name, kvs := range cases {
		meta, err := buildGGUF(t, kvs...)
		if err != nil {
			t.Fatalf("%s: building GGUF: %v", name, err)
		}
		if _, err := TokenizerFromGGUF(meta); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestAustenTokenizer reads the tokenizer from the test model's own GGUF and
// checks it against the prompts in its reference.json.
func TestAustenTokenizer(t *testing.T) {
	m, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-Q8_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := TokenizerFromGGUF(m.Meta)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(testdata.Path(t, "austen-22m/reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases map[string]struct {
			InputIDs []int32 `json:"input_ids"`
			Greedy   []int32 `json:"greedy_48"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	once := ref.Cases["once"]
	if got := tok.Encode("Once upon a time,", true); !slices.Equal(got, once.InputIDs) {
		t.Fatalf("Encode(Once upon a time,) = %v, want %v", got, once.InputIDs)
	}
	for name, c := range ref.Cases {
		all := append(slices.Clone(c.InputIDs), c.Greedy...)
		text := tok.Decode(all)
		sd := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range all {
			b.WriteString(sd.Next(id))
		}
		b.WriteString(sd.Flush())
		if b.String() != text {
			t.Errorf("%s: stream decode differs from Decode", name)
		}
		t.Logf("%s: %q", name, text[max(0, len(text)-160):])
	}
}
