package model

import (
	"fmt"
	"math"

	"github.com/tabshard/tabshard/loader"
)

// GGUF keys of the tokenizer (llama.cpp's LLM_KV_TOKENIZER_*).
const (
	keyTokModel       = "tokenizer.ggml.model"
	keyTokTokens      = "tokenizer.ggml.tokens"
	keyTokScores      = "tokenizer.ggml.scores"
	keyTokTypes       = "tokenizer.ggml.token_type"
	keyTokBOS         = "tokenizer.ggml.bos_token_id"
	keyTokEOS         = "tokenizer.ggml.eos_token_id"
	keyTokUNK         = "tokenizer.ggml.unknown_token_id"
	keyTokAddBOS      = "tokenizer.ggml.add_bos_token"
	keyTokAddSpacePfx = "tokenizer.ggml.add_space_prefix"
)

// TokenizerFromGGUF builds the tokenizer a GGUF file describes. Only
// SentencePiece vocabularies (tokenizer.ggml.model = "llama") are supported.
// Missing optional keys take llama.cpp's defaults for that model: BOS 1, EOS
// 2, UNK 0, add BOS, add a space prefix; scores and types may be absent.
func TokenizerFromGGUF(meta loader.Metadata) (*Tokenizer, error) {
	kind, err := meta.String(keyTokModel)
	if err != nil {
		return nil, fmt.Errorf("model: tokenizer: %w", err)
	}
	if kind != "llama" {
		return nil, fmt.Errorf("model: tokenizer model %q is not supported (only SentencePiece \"llama\")", kind)
	}
	var v Vocab
	if v.Tokens, err = meta.Strings(keyTokTokens); err != nil {
		return nil, fmt.Errorf("model: tokenizer: %w", err)
	}
	if meta.Has(keyTokScores) {
		// llama.cpp accepts f32 or i32 scores.
		scores, ferr := meta.Float32s(keyTokScores)
		if ferr != nil {
			ints, ierr := meta.Int32s(keyTokScores)
			if ierr != nil {
				return nil, fmt.Errorf("model: tokenizer: %w", ferr)
			}
			scores = make([]float32, len(ints))
			for i, x := range ints {
				scores[i] = float32(x)
			}
		}
		v.Scores = scores
		for i, s := range v.Scores {
			if math.IsNaN(float64(s)) {
				return nil, fmt.Errorf("model: tokenizer score of token %d is NaN", i)
			}
		}
	}
	if meta.Has(keyTokTypes) {
		if v.Types, err = meta.Int32s(keyTokTypes); err != nil {
			return nil, fmt.Errorf("model: tokenizer: %w", err)
		}
	}
	n := uint64(len(v.Tokens))
	// llama.cpp tolerates longer score/type arrays and reads the first n.
	if uint64(len(v.Scores)) > n {
		v.Scores = v.Scores[:n]
	}
	if uint64(len(v.Types)) > n {
		v.Types = v.Types[:n]
	}
	special := func(key string, def int32) (int32, error) {
		if !meta.Has(key) {
			if uint64(def) >= n {
				return -1, nil
			}
			return def, nil
		}
		id, err := meta.Uint(key)
		if err != nil {
			return 0, fmt.Errorf("model: tokenizer: %w", err)
		}
		if id >= n {
			return 0, fmt.Errorf("model: %s = %d is outside the %d-token vocabulary", key, id, n)
		}
		return int32(id), nil
	}
	if v.BOS, err = special(keyTokBOS, 1); err != nil {
		return nil, err
	}
	if v.EOS, err = special(keyTokEOS, 2); err != nil {
		return nil, err
	}
	if v.UNK, err = special(keyTokUNK, 0); err != nil {
		return nil, err
	}
	flag := func(key string, def bool) (bool, error) {
		if !meta.Has(key) {
			return def, nil
		}
		b, err := meta.Bool(key)
		if err != nil {
			return false, fmt.Errorf("model: tokenizer: %w", err)
		}
		return b, nil
	}
	if v.AddBOS, err = flag(keyTokAddBOS, true); err != nil {
		return nil, err
	}
	if v.AddSpacePrefix, err = flag(keyTokAddSpacePfx, true); err != nil {
		return nil, err
	}
	return NewTokenizer(v)
}
