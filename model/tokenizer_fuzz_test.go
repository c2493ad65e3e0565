package model

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncode checks that Encode never panics, that every id it returns is in
// the vocabulary, and that Decode (and the stream decoder) give the text
// back. SentencePiece cannot round-trip a literal "▁" (it is how spaces are
// spelled), so texts holding one are only checked for the first two.
// Seeds: llama.cpp's tokenizer test inputs (testdata/fuzz/FuzzEncode).
func FuzzEncode(f *testing.F) {
	tok := llamaSPM(f)
	f.Add("Hello world")
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s, true)
		if len(ids) == 0 || ids[0] != tok.BOS() {
			t.Fatalf("Encode(%q, BOS) = %v", s, ids)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("Encode(%q) gave id %d", s, id)
			}
		}
		if !utf8.ValidString(s) || strings.Contains(s, spaceMarker) {
			return
		}
		if d := tok.Decode(ids); d != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, d)
		}
		sd := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(sd.Next(id))
		}
		b.WriteString(sd.Flush())
		if b.String() != s {
			t.Fatalf("stream decode of %q = %q", s, b.String())
		}
	})
}
