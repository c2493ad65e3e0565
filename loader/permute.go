package loader

import "fmt"

// permuteRoPERows reorders the rows of a Hugging Face q_proj/k_proj weight
// from its half-split RoPE layout (each head's first half of rows rotates
// with its second half) into GGUF's interleaved layout (rows 2i and 2i+1
// rotate together). It is llama.cpp convert_hf_to_gguf.py's permute:
// reshape(heads, 2, head_dim/2, cols).swapaxes(1, 2), so output row
// h*head_dim + 2i + j comes from input row h*head_dim + j*head_dim/2 + i.
func permuteRoPERows(dst, src []byte, t TensorInfo) error {
	if len(t.Dims) != 2 {
		return fmt.Errorf("loader: tensor %q: RoPE permutation needs a matrix, dims are %v", t.Name, t.Dims)
	}
	rows, heads := t.Dims[1], uint64(t.PermuteHeads)
	if heads == 0 || rows%heads != 0 || (rows/heads)%2 != 0 {
		return fmt.Errorf("loader: tensor %q: %d rows do not split into %d heads of even size", t.Name, rows, heads)
	}
	if rows == 0 || uint64(len(src))%rows != 0 || len(dst) != len(src) {
		return fmt.Errorf("loader: tensor %q: %d bytes are not %d whole rows", t.Name, len(src), rows)
	}
	rowBytes := uint64(len(src)) / rows
	headDim := rows / heads
	half := headDim / 2
	for h := uint64(0); h < heads; h++ {
		for i := uint64(0); i < half; i++ {
			for j := uint64(0); j < 2; j++ {
				out := h*headDim + 2*i + j
				in := h*headDim + j*half + i
				copy(dst[out*rowBytes:(out+1)*rowBytes], src[in*rowBytes:(in+1)*rowBytes])
			}
		}
	}
	return nil
}
