package models

import (
	"bytes"
	"fmt"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
)

// Tokenizer returns the model's own tokenizer or, for a checkpoint that
// ships none (safetensors), the embedded LLaMA-2 vocabulary when the sizes
// agree.
func Tokenizer(src *loader.Model, cfg model.Config) (*model.Tokenizer, error) {
	meta := &src.Meta
	own := meta.Has("tokenizer.ggml.tokens")
	if !own {
		v, err := loader.OpenGGUF(bytes.NewReader(LlamaVocab), int64(len(LlamaVocab)))
		if err != nil {
			return nil, err
		}
		meta = &v.Meta
	}
	tok, err := model.TokenizerFromGGUF(*meta)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() != cfg.Vocab {
		if own {
			return nil, fmt.Errorf("the model's tokenizer has %d tokens but its embeddings %d", tok.VocabSize(), cfg.Vocab)
		}
		return nil, fmt.Errorf("the model has no tokenizer and its vocabulary (%d) is not LLaMA-2's (%d)", cfg.Vocab, tok.VocabSize())
	}
	return tok, nil
}
