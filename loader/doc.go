// Package loader reads model files people already have — GGUF (v2, v3) and
// Hugging Face safetensors (single file, sharded with an index, or a directory
// with config.json) — into one description: GGUF-style metadata keys and
// GGUF-named tensors with ggml-order dims. It does not run models.
//
// Every byte read from a file is untrusted: counts, lengths and offsets are
// checked against the file size before anything is allocated, so a corrupt or
// hostile file yields an error, never a panic or a huge allocation.
package loader
