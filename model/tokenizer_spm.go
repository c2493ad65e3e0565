package model

import "strings"

// Encode splits text into token ids the way llama.cpp's
// llama_tokenize(add_special=addBOS, parse_special=false) does for an SPM
// vocabulary: BOS first when addBOS (and the vocabulary has one), a space
// before the text when the vocabulary asks for it, spaces spelled "▁", then
// SentencePiece's merges. Control tokens such as "<s>" in the text are plain
// text, never the control token; user-defined tokens are matched verbatim.
// Any byte string is accepted, invalid UTF-8 included (it falls back to
// byte tokens).
func (t *Tokenizer) Encode(text string, addBOS bool) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	if addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	if text == "" {
		return out
	}
	var s spmSession
	prevSpecial := true // the first fragment gets the space prefix
	for _, f := range t.partition(text) {
		if f.token >= 0 {
			out = append(out, f.token)
			prevSpecial = true
			continue
		}
		raw := f.text
		if t.addSpacePrefix && prevSpecial {
			raw = " " + raw
		}
		out = s.tokenize(t, strings.ReplaceAll(raw, " ", spaceMarker), out)
		prevSpecial = false
	}
	return out
}

// fragment is a run of raw text (token < 0) or a user-defined token matched
// in the input.
type fragment struct {
	text  string
	token int32
}

// partition cuts out user-defined tokens, longest first, as llama.cpp's
// tokenizer_st_partition does; LLaMA's own vocabulary has none, so this is
// usually one fragment.
func (t *Tokenizer) partition(text string) []fragment {
	frags := []fragment{{text: text, token: -1}}
	for _, id := range t.userDefined {
		word := t.tokens[id]
		var next []fragment
		changed := false
		for _, f := range frags {
			if f.token >= 0 || !strings.Contains(f.text, word) {
				next = append(next, f)
				continue
			}
			changed = true
			rest := f.text
			for {
				i := strings.Index(rest, word)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: rest[:i], token: -1})
				}
				next = append(next, fragment{token: id})
				rest = rest[i+len(word):]
			}
			if rest != "" {
				next = append(next, fragment{text: rest, token: -1})
			}
		}
		if changed {
			frags = next
		}
	}
	return frags
}

// spmSymbol is a run of bytes of the escaped text, linked to its neighbours;
// n == 0 once merged into the symbol on its left.
type spmSymbol struct {
	start, n   int
	prev, next int
}

// spmBigram proposes merging symbols left and right (adjacent when pushed)
// into a vocabulary token of the given score; size tells a stale proposal
// from a live one.
type spmBigram struct {
	left, right int
	score       float32
	size        int
}

// spmSession is the scratch of one Encode call.
type spmSession struct {
	syms []spmSymbol
	heap []spmBigram
}

// utf8SeqLen is llama.cpp's unicode_len_utf8: the sequence length a lead byte
// announces, 1 for continuation and ASCII bytes.
func utf8SeqLen(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

// tokenize runs llm_tokenizer_spm_session::tokenize on text (already
// escaped) and appends the result to out.
func (s *spmSession) tokenize(t *Tokenizer, text string, out []int32) []int32 {
	s.syms = s.syms[:0]
	s.heap = s.heap[:0]
	for off := 0; off < len(text); {
		n := min(utf8SeqLen(text[off]), len(text)-off)
		idx := len(s.syms)
		next := idx + 1
		if off+n == len(text) {
			next = -1
		}
		s.syms = append(s.syms, spmSymbol{start: off, n: n, prev: idx - 1, next: next})
		off += n
	}
	for i := 1; i < len(s.syms); i++ {
		s.tryAdd(t, text, i-1, i)
	}
	for len(s.heap) > 0 {
		bg := s.pop()
		l, r := &s.syms[bg.left], &s.syms[bg.right]
		// One side already merged elsewhere: the proposal is stale.
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			s.syms[r.next].prev = bg.left
		}
		s.tryAdd(t, text, l.prev, bg.left)
		s.tryAdd(t, text, bg.left, l.next)
	}
	for i := 0; i != -1 && len(s.syms) > 0; i = s.syms[i].next {
		sym := s.syms[i]
		out = t.emitSymbol(text[sym.start:sym.start+sym.n], out)
	}
	return out
}

// emitSymbol appends the token spelling piece, or its byte fallback.
// llama.cpp also keeps a map of merges to re-split a symbol that is not a
// token, but every merged symbol is a token by construction, so only single
// characters ever reach the fallback.
func (t *Tokenizer) emitSymbol(piece string, out []int32) []int32 {
	if id, ok := t.ids[piece]; ok {
		return append(out, id)
	}
	for i := 0; i < len(piece); i++ {
		if t.bytes[piece[i]] < 0 {
			// No byte tokens (llama.cpp would throw here): SentencePiece
			// without byte fallback emits one unknown token per piece.
			if t.unk >= 0 {
				out = append(out, t.unk)
			}
			return out
		}
	}
	for i := 0; i < len(piece); i++ {
		out = append(out, t.bytes[piece[i]])
	}
	return out
}

// tryAdd proposes merging symbols left and right if their text is a token.
func (s *spmSession) tryAdd(t *Tokenizer, text string, left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l := s.syms[left]
	size := l.n + s.syms[right].n
	id, ok := t.ids[text[l.start:l.start+size]]
	if !ok {
		return
	}
	s.push(spmBigram{left: left, right: right, score: t.scores[id], size: size})
}

// before orders the queue: higher score first, then the leftmost pair
// (llama.cpp's llm_bigram_spm::comparator).
func (a spmBigram) before(b spmBigram) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

func (s *spmSession) push(b spmBigram) {
	s.heap = append(s.heap, b)
	for i := len(s.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.heap[i].before(s.heap[p]) {
			break
		}
		s.heap[i], s.heap[p] = s.heap[p], s.heap[i]
		i = p
	}
}

func (s *spmSession) pop() spmBigram {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		best, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].before(h[best]) {
			best = l
		}
		if r < len(h) && h[r].before(h[best]) {
			best = r
		}
		if best == i {
			break
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
	s.heap = h
	return top
}
