// Package models carries the files tabshard needs at run time without any
// download: the default model (austen-22m, a small LLaMA trained for this
// project, quantized by llama.cpp to Q4_K_M) and the LLaMA-2 vocabulary for
// safetensors checkpoints that ship no tokenizer of their own.
package models

import _ "embed"

// DefaultName names the embedded default model.
const DefaultName = "austen-22m-Q4_K_M"

// Default is the GGUF file of the default model.
//
//go:embed austen-22m-Q4_K_M.gguf
var Default []byte

// LlamaVocab is a vocabulary-only GGUF of the LLaMA-2 SentencePiece tokenizer
// (from llama.cpp's test suite, MIT).
//
//go:embed llama2-vocab.gguf
var LlamaVocab []byte
