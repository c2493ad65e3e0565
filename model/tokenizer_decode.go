package model

import (
	"strings"
	"unicode/utf8"
)

// Decode turns ids back into text: "▁" becomes a space, byte tokens become
// their byte, control and unknown tokens (BOS, EOS, <unk>) render as nothing,
// and ids out of range are skipped. When the vocabulary adds a space prefix,
// the first visible token loses one leading space (SentencePiece's rule), so
// Decode(Encode(s, addBOS)) == s for any s without user-defined tokens that
// Encode can represent. Unlike llama.cpp's llama_detokenize, which keeps the
// space when a BOS precedes it, the rule here skips over a leading BOS as
// SentencePiece does.
func (t *Tokenizer) Decode(ids []int32) string {
	var b strings.Builder
	started := false
	for _, id := range ids {
		b.WriteString(t.nextPiece(id, &started))
	}
	return b.String()
}

// nextPiece renders id, applying the leading-space rule while *started is
// false.
func (t *Tokenizer) nextPiece(id int32, started *bool) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	switch t.types[id] {
	case TokenTypeNormal, TokenTypeUserDefined, TokenTypeByte:
	default:
		return ""
	}
	p := t.pieces[id]
	if !*started {
		*started = true
		if t.addSpacePrefix {
			p = strings.TrimPrefix(p, " ")
		}
	}
	return p
}

// Piece is what id contributes to Decode's output in the middle of a text
// (no leading-space rule): "" for control tokens and ids out of range.
func (t *Tokenizer) Piece(id int32) string {
	started := true
	return t.nextPiece(id, &started)
}

// StreamDecoder decodes generated tokens one at a time. Byte-fallback tokens
// carry UTF-8 one byte each (an emoji is <0xF0><0x9F>...), so Next holds back
// a trailing incomplete UTF-8 sequence until the bytes that finish it arrive.
// The concatenation of everything Next and Flush return equals Decode of all
// the ids. A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	started bool
	pending []byte
}

// NewStreamDecoder starts decoding a new text (the leading-space rule applies
// to its first visible token).
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// ContinueStream decodes tokens that continue a text already shown (a
// prompt): no leading space is dropped, so prompt + output reads right.
func (t *Tokenizer) ContinueStream() *StreamDecoder {
	return &StreamDecoder{t: t, started: true}
}

// Next adds id and returns the text it completes, possibly "".
func (d *StreamDecoder) Next(id int32) string {
	d.pending = append(d.pending, d.t.nextPiece(id, &d.started)...)
	cut := completeUTF8Prefix(d.pending)
	if cut == 0 {
		return ""
	}
	out := string(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out
}

// Flush returns the bytes still held back (an unfinished UTF-8 sequence, as
// is) and empties the decoder's buffer.
func (d *StreamDecoder) Flush() string {
	out := string(d.pending)
	d.pending = d.pending[:0]
	return out
}

// completeUTF8Prefix is the length of b without a trailing UTF-8 sequence
// that more bytes could still complete. Invalid bytes count as complete:
// nothing that follows can fix them.
func completeUTF8Prefix(b []byte) int {
	// The last sequence starts at most UTFMax-1 bytes before the end.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}
