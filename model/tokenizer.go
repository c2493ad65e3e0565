package model

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Token types as GGUF stores them in tokenizer.ggml.token_type (llama.cpp's
// llama_token_type). They decide how a token is matched and rendered.
const (
	TokenTypeUndefined   int32 = 0
	TokenTypeNormal      int32 = 1
	TokenTypeUnknown     int32 = 2
	TokenTypeControl     int32 = 3
	TokenTypeUserDefined int32 = 4
	TokenTypeUnused      int32 = 5
	TokenTypeByte        int32 = 6
)

// spaceMarker is SentencePiece's visible space (U+2581): the vocabulary spells
// " Hello" as "▁Hello".
const spaceMarker = "\u2581"

// Vocab is a SentencePiece vocabulary as GGUF carries it. Scores and Types may
// be nil (all zero scores, all normal tokens), as llama.cpp allows; otherwise
// they are parallel to Tokens. BOS, EOS and UNK are token ids, -1 for none.
type Vocab struct {
	Tokens         []string
	Scores         []float32
	Types          []int32
	BOS, EOS, UNK  int32
	AddBOS         bool // the model expects BOS before a prompt
	AddSpacePrefix bool // SentencePiece's add_dummy_prefix: " " before the text
}

// Tokenizer is LLaMA's SentencePiece (SPM) tokenizer, matching llama.cpp's
// llm_tokenizer_spm: greedy merges of adjacent symbols by best vocabulary
// score, then byte fallback (<0xXX> tokens) for what stays unknown. It is
// immutable after construction and safe for concurrent use.
type Tokenizer struct {
	tokens []string
	scores []float32
	types  []int32
	ids    map[string]int32 // token text -> id
	bytes  [256]int32       // byte-fallback token of each byte, -1 if none
	pieces []string         // what each token renders to in Decode
	// userDefined are matched verbatim in the input before the SPM merges
	// run (llama.cpp's tokenizer_st_partition with parse_special=false),
	// longest first.
	userDefined []int32

	bos, eos, unk  int32
	addBOS         bool
	addSpacePrefix bool
}

// NewTokenizer checks v and builds its lookup tables.
func NewTokenizer(v Vocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, errors.New("model: tokenizer vocabulary is empty")
	}
	if n > 1<<31-1 {
		return nil, fmt.Errorf("model: tokenizer vocabulary has %d tokens, more than int32 ids allow", n)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, fmt.Errorf("model: tokenizer has %d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("model: tokenizer has %d token types for %d tokens", len(v.Types), n)
	}
	for _, sp := range []struct {
		name string
		id   int32
	}{{"BOS", v.BOS}, {"EOS", v.EOS}, {"UNK", v.UNK}} {
		if sp.id < -1 || sp.id >= int32(n) {
			return nil, fmt.Errorf("model: tokenizer %s id %d outside [0,%d) (use -1 for none)", sp.name, sp.id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return nil, errors.New("model: tokenizer wants BOS added but has no BOS token")
	}

	t := &Tokenizer{
		tokens:         v.Tokens,
		scores:         v.Scores,
		types:          v.Types,
		ids:            make(map[string]int32, n),
		pieces:         make([]string, n),
		bos:            v.BOS,
		eos:            v.EOS,
		unk:            v.UNK,
		addBOS:         v.AddBOS,
		addSpacePrefix: v.AddSpacePrefix,
	}
	if t.scores == nil {
		t.scores = make([]float32, n)
	}
	if t.types == nil {
		t.types = make([]int32, n)
		for i := range t.types {
			t.types[i] = TokenTypeNormal
		}
	}
	for i, s := range t.tokens {
		id := int32(i)
		// llama.cpp renames empty tokens so they can never match; leaving
		// them out of the map has the same effect.
		if s != "" {
			if prev, dup := t.ids[s]; dup {
				return nil, fmt.Errorf("model: tokenizer token %q appears twice (ids %d and %d)", s, prev, id)
			}
			t.ids[s] = id
		}
		switch t.types[i] {
		case TokenTypeNormal:
			t.pieces[i] = strings.ReplaceAll(s, spaceMarker, " ")
		case TokenTypeUserDefined:
			t.pieces[i] = s
			if s != "" {
				t.userDefined = append(t.userDefined, id)
			}
		case TokenTypeByte:
			b, ok := parseByteToken(s)
			if !ok {
				return nil, fmt.Errorf("model: tokenizer byte token %d is %q, want <0xXX>", id, s)
			}
			t.pieces[i] = string([]byte{b})
		default:
			// Control, unknown, unused and undefined tokens render as
			// nothing, as in llama.cpp's token_to_piece(special=false).
		}
	}
	// Sorted by length, longest first, as llama.cpp does; ties by id so the
	// order does not depend on the sort algorithm.
	slices.SortFunc(t.userDefined, func(a, b int32) int {
		if c := cmp.Compare(len(t.tokens[b]), len(t.tokens[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	// byte_to_token: "<0xXX>" first, then the byte as a one-byte token.
	for b := range 256 {
		t.bytes[b] = -1
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.bytes[b] = id
		} else if id, ok := t.ids[string([]byte{byte(b)})]; ok {
			t.bytes[b] = id
		}
	}
	return t, nil
}

// parseByteToken reads "<0xXX>" (either hex case).
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(s[3])
	lo, ok2 := hexDigit(s[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS is the beginning-of-sequence token id, -1 if the vocabulary has none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS is the end-of-sequence token id, -1 if the vocabulary has none.
func (t *Tokenizer) EOS() int32 { return t.eos }

// UNK is the unknown token id, -1 if the vocabulary has none.
func (t *Tokenizer) UNK() int32 { return t.unk }

// AddBOS reports whether the model expects BOS before a prompt.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// TokenText is the vocabulary's spelling of id ("▁Hello", "<0x0A>", "<s>"),
// "" when id is out of range.
func (t *Tokenizer) TokenText(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// TokenType is id's GGUF token type, TokenTypeUndefined when out of range.
func (t *Tokenizer) TokenType(id int32) int32 {
	if id < 0 || int(id) >= len(t.types) {
		return TokenTypeUndefined
	}
	return t.types[id]
}
