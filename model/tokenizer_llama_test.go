package model

import (
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
)

// llamaSPM loads the LLaMA tokenizer from llama.cpp's vocabulary-only GGUF.
func llamaSPM(t testing.TB) *Tokenizer {
	t.Helper()
	path := testdata.Path(t, "vocab/ggml-vocab-llama-spm.gguf")
	m, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := TokenizerFromGGUF(m.Meta)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type vocabCase struct {
	text string
	ids  []int32
}

// llamaVocabCases reads llama.cpp's test-tokenizer-0 data: inputs separated
// by "\n__ggml_vocab_test__\n" (the file ends with one), and one line of
// space-separated ids per input.
func llamaVocabCases(t testing.TB) []vocabCase {
	t.Helper()
	base := testdata.Path(t, "vocab/ggml-vocab-llama-spm.gguf")
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	texts := strings.Split(string(inp), sep)
	if texts[len(texts)-1] == "" {
		texts = texts[:len(texts)-1]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(texts) != len(lines) {
		t.Fatalf("%d inputs but %d outputs", len(texts), len(lines))
	}
	cases := make([]vocabCase, len(texts))
	for i, text := range texts {
		cases[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("output line %d: %v", i+1, err)
			}
			cases[i].ids = append(cases[i].ids, int32(id))
		}
	}
	return cases
}

// TestLlamaVocab runs llama.cpp's test-tokenizer-0 cases: tokenize with
// add_special=false, parse_special=false, compare ids exactly.
func TestLlamaVocab(t *testing.T) {
	tok := llamaSPM(t)
	if tok.VocabSize() != 32000 || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || !tok.AddBOS() {
		t.Fatalf("vocab %d, BOS %d, EOS %d, UNK %d, addBOS %v", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.UNK(), tok.AddBOS())
	}
	cases := llamaVocabCases(t)
	if len(cases) != 46 {
		t.Fatalf("%d cases, want 46", len(cases))
	}
	failed := 0
	for _, c := range cases {
		got := tok.Encode(c.text, false)
		if !slices.Equal(got, c.ids) {
			failed++
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.text, got, c.ids)
		}
		if d := tok.Decode(got); d != c.text {
			t.Errorf("Decode(Encode(%q)) = %q", c.text, d)
		}
		withBOS := tok.Encode(c.text, true)
		if withBOS[0] != tok.BOS() || !slices.Equal(withBOS[1:], c.ids) {
			t.Errorf("Encode(%q, BOS) = %v", c.text, withBOS)
		}
		if d := tok.Decode(withBOS); d != c.text {
			t.Errorf("Decode(Encode(%q, BOS)) = %q", c.text, d)
		}
		// Streaming gives the same text, one token at a time.
		sd := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range withBOS {
			b.WriteString(sd.Next(id))
		}
		b.WriteString(sd.Flush())
		if b.String() != c.text {
			t.Errorf("stream decode of %q = %q", c.text, b.String())
		}
	}
	t.Logf("%d/%d llama.cpp vocab cases match", len(cases)-failed, len(cases))
}

// prideParagraphs splits the text the way the reference ids were made:
// paragraphs are separated by runs of two or more newlines; single newlines
// stay inside a paragraph (the ids show "of" without "▁" after them).
func prideParagraphs(text string) []string {
	var paras []string
	for len(text) > 0 {
		i := strings.Index(text, "\n\n")
		if i < 0 {
			paras = append(paras, text)
			break
		}
		if i > 0 {
			paras = append(paras, text[:i])
		}
		text = strings.TrimLeft(text[i:], "\n")
	}
	return paras
}

// TestPrideAndPrejudice tokenizes the whole evaluation text, paragraph by
// paragraph, and compares with the reference LLaMA-2 ids.
func TestPrideAndPrejudice(t *testing.T) {
	tok := llamaSPM(t)
	text, err := os.ReadFile(testdata.Path(t, "text/pride-and-prejudice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(testdata.Path(t, "text/pride-and-prejudice.llama2.u16"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int32, len(raw)/2)
	for i := range want {
		want[i] = int32(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	start := time.Now()
	var got []int32
	// Each paragraph is followed by 13 ("\n"): the README says "joined with",
	// but the reference also ends with one after the text's final newline.
	for _, p := range prideParagraphs(string(text)) {
		got = append(got, tok.Encode(p, false)...)
		got = append(got, 13)
	}
	elapsed := time.Since(start)
	if !slices.Equal(got, want) {
		n := 0
		for n < min(len(got), len(want)) && got[n] == want[n] {
			n++
		}
		lo := max(0, n-5)
		t.Fatalf("%d ids, want %d; first difference at %d:\n got %v\nwant %v", len(got), len(want), n,
			got[lo:min(len(got), n+10)], want[lo:min(len(want), n+10)])
	}
	t.Logf("%d bytes -> %d ids in %v, all equal to the reference", len(text), len(got), elapsed)

	// The whole text as one input (llama-perplexity's way). Its speed is
	// logged, not asserted: timings belong in benchmarks.
	start = time.Now()
	whole := tok.Encode(string(text), true)
	t.Logf("whole text as one input: %d ids in %v", len(whole), time.Since(start))
	if d := tok.Decode(whole); d != string(text) {
		t.Errorf("Decode(Encode(whole text)) differs")
	}
}
