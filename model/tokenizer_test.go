package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// tinyVocab is a hand-made SentencePiece vocabulary: <unk>, <s>, </s>, the 256
// byte tokens, then the given normal tokens with their scores.
func tinyVocab(t *testing.T, normal map[string]float32, userDefined ...string) (*Tokenizer, map[string]int32) {
	t.Helper()
	v := Vocab{BOS: 1, EOS: 2, UNK: 0, AddBOS: true, AddSpacePrefix: true}
	add := func(s string, score float32, typ int32) {
		v.Tokens = append(v.Tokens, s)
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", 0, TokenTypeUnknown)
	add("<s>", 0, TokenTypeControl)
	add("</s>", 0, TokenTypeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, TokenTypeByte)
	}
	keys := make([]string, 0, len(normal))
	for k := range normal {
		keys = append(keys, k)
	}
	slices.Sort(keys) // map order must not change ids
	for _, k := range keys {
		add(k, normal[k], TokenTypeNormal)
	}
	for _, u := range userDefined {
		add(u, 0, TokenTypeUserDefined)
	}
	tok, err := NewTokenizer(v)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]int32)
	for i, s := range v.Tokens {
		ids[s] = int32(i)
	}
	return tok, ids
}

func byteID(b byte) int32 { return 3 + int32(b) }

func TestEncodeMergesByScore(t *testing.T) {
	tok, id := tinyVocab(t, map[string]float32{
		"▁": -1, "▁a": -2, "ab": -3, "bc": -4, "a": -5, "b": -5, "c": -5, "abc": -1,
	})
	// "▁abc": candidate pairs ▁a(-2), ab(-3), bc(-4). ▁a wins, then "▁a"+"b"
	// is no token, "b"+"c" = bc merges: [▁a, bc]. "abc" is never reached
	// because "ab" lost "a" to "▁a" first.
	got := tok.Encode("abc", false)
	want := []int32{id["▁a"], id["bc"]}
	if !slices.Equal(got, want) {
		t.Fatalf("Encode(abc) = %v, want %v", got, want)
	}
	// Without the space prefix "ab"(-3) beats "bc"(-4), then "ab"+"c" = abc.
	tok.addSpacePrefix = false
	if got, want := tok.Encode("abc", false), []int32{id["abc"]}; !slices.Equal(got, want) {
		t.Fatalf("Encode(abc) without prefix = %v, want %v", got, want)
	}
}

func TestEncodeTiesGoLeft(t *testing.T) {
	tok, id := tinyVocab(t, map[string]float32{"ab": -1, "bc": -1, "a": -2, "b": -2, "c": -2})
	tok.addSpacePrefix = false
	// "ab" and "bc" score the same: the leftmost pair merges first.
	if got, want := tok.Encode("abc", false), []int32{id["ab"], id["c"]}; !slices.Equal(got, want) {
		t.Fatalf("Encode(abc) = %v, want %v", got, want)
	}
}

func TestEncodeBOSAndEmpty(t *testing.T) {
	// Merges go pair by pair, so "▁hi" needs a path: "▁" + "hi".
	tok, id := tinyVocab(t, map[string]float32{"▁": -3, "hi": -2, "▁hi": -1})
	if got := tok.Encode("", false); len(got) != 0 {
		t.Fatalf("Encode(\"\") = %v, want nothing", got)
	}
	if got := tok.Encode("", true); !slices.Equal(got, []int32{1}) {
		t.Fatalf("Encode(\"\", BOS) = %v, want [1]", got)
	}
	if got, want := tok.Encode("hi", true), []int32{1, id["▁hi"]}; !slices.Equal(got, want) {
		t.Fatalf("Encode(hi, BOS) = %v, want %v", got, want)
	}
}

func TestEncodeByteFallback(t *testing.T) {
	tok, id := tinyVocab(t, map[string]float32{"▁": -1})
	// "é" is two bytes with no token: byte fallback, one token a byte.
	got := tok.Encode("é", false)
	want := []int32{id["▁"], byteID(0xC3), byteID(0xA9)}
	if !slices.Equal(got, want) {
		t.Fatalf("Encode(é) = %v, want %v", got, want)
	}
	// Invalid UTF-8 falls back to bytes too (0xFF announces a 4-byte
	// sequence and swallows what follows, as llama.cpp's unicode_len_utf8
	// does).
	got = tok.Encode("\xff\xe2a", false)
	want = []int32{id["▁"], byteID(0xff), byteID(0xe2), byteID('a')}
	if !slices.Equal(got, want) {
		t.Fatalf("Encode(invalid) = %v, want %v", got, want)
	}
	if d := tok.Decode(got); d != "\xff\xe2a" {
		t.Fatalf("Decode = %q", d)
	}
}

func TestEncodeControlTextIsPlain(t *testing.T) {
	tok, _ := tinyVocab(t, map[string]float32{"▁": -1, "<": -1, "s": -1, ">": -1})
	for _, id := range tok.Encode("<s></s>", false) {
		if id == tok.BOS() || id == tok.EOS() {
			t.Fatalf("control token %d parsed from plain text", id)
		}
	}
}

func TestEncodeUserDefined(t *testing.T) {
	tok, id := tinyVocab(t, map[string]float32{"▁a": -1, "a": -2, "▁": -3}, "<tool>", "<to")
	// The user-defined token is cut out first; the text after it gets the
	// space prefix again, as after any special token in llama.cpp.
	got := tok.Encode("a<tool>a", false)
	want := []int32{id["▁a"], id["<tool>"], id["▁a"]}
	if !slices.Equal(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
	if d := tok.Decode(got); d != "a<tool> a" {
		t.Fatalf("Decode = %q", d)
	}
}

func TestNewTokenizerRejects(t *testing.T) {
	ok := Vocab{Tokens: []string{"<unk>", "<s>", "</s>", "a"}, BOS: 1, EOS: 2, UNK: 0}
	if _, err := NewTokenizer(ok); err != nil {
		t.Fatalf("valid vocabulary refused: %v", err)
	}
	cases := map[string]func(v *Vocab){
		"empty":          func(v *Vocab) { v.Tokens = nil },
		"short scores":   func(v *Vocab) { v.Scores = []float32{0} },
		"short types":    func(v *Vocab) { v.Types = []int32{1, 1} },
		"bos range":      func(v *Vocab) { v.BOS = 4 },
		"eos negative":   func(v *Vocab) { v.EOS = -2 },
		"unk range":      func(v *Vocab) { v.UNK = 99 },
		"duplicate":      func(v *Vocab) { v.Tokens = []string{"<unk>", "<s>", "</s>", "<s>"} },
		"add bos no bos": func(v *Vocab) { v.BOS = -1; v.AddBOS = true },
		"bad byte":       func(v *Vocab) { v.Types = []int32{2, 3, 3, TokenTypeByte} },
	}
	for name, mutate := range cases {
		v := ok
		mutate(&v)
		if _, err := NewTokenizer(v); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestDecodeLeadingSpace(t *testing.T) {
	tok, id := tinyVocab(t, map[string]float32{"▁": -1, "▁hi": -1, "▁there": -1})
	cases := []struct {
		ids  []int32
		want string
	}{
		{[]int32{id["▁hi"], id["▁there"]}, "hi there"},
		{[]int32{1, id["▁hi"], id["▁there"], 2}, "hi there"}, // BOS/EOS invisible
		{[]int32{id["▁"], id["▁hi"]}, " hi"},                 // only one space goes
		{[]int32{byteID('x'), id["▁hi"]}, "x hi"},
		{[]int32{-5, 1 << 20, id["▁hi"]}, "hi"}, // out of range skipped
	}
	for _, c := range cases {
		if got := tok.Decode(c.ids); got != c.want {
			t.Errorf("Decode(%v) = %q, want %q", c.ids, got, c.want)
		}
	}
	if got := tok.Piece(id["▁hi"]); got != " hi" {
		t.Errorf("Piece = %q", got)
	}
	if got := tok.TokenText(id["▁hi"]); got != "▁hi" {
		t.Errorf("TokenText = %q", got)
	}
}

func TestStreamDecoderHoldsIncompleteUTF8(t *testing.T) {
	tok, id := tinyVocab(t, map[string]float32{"▁": -1, "▁hi": -1})
	// "hi 🦙!" with the llama emoji as four byte tokens.
	ids := []int32{1, id["▁hi"], id["▁"], byteID(0xF0), byteID(0x9F), byteID(0xA6), byteID(0x99), byteID('!')}
	d := tok.NewStreamDecoder()
	var got []string
	for _, x := range ids {
		got = append(got, d.Next(x))
	}
	want := []string{"", "hi", " ", "", "", "", "🦙", "!"}
	if !slices.Equal(got, want) {
		t.Fatalf("stream = %q, want %q", got, want)
	}
	if rest := d.Flush(); rest != "" {
		t.Fatalf("Flush = %q", rest)
	}
	// A sequence that is never finished comes out as soon as a byte that
	// cannot continue it arrives, and at Flush otherwise.
	d = tok.NewStreamDecoder()
	var b strings.Builder
	for _, x := range []int32{byteID(0xE2), byteID('a'), byteID(0xE2), byteID(0x96)} {
		b.WriteString(d.Next(x))
	}
	if b.String() != "\xe2a" {
		t.Fatalf("stream before flush = %q", b.String())
	}
	if rest := d.Flush(); rest != "\xe2\x96" {
		t.Fatalf("Flush = %q", rest)
	}
}
