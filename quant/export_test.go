package quant

// The scalar kernels, exported to the tests so they are checked on amd64
// too, where the vector ones normally run.
var (
	DotF32Generic  = dotF32Generic
	DotF16Generic  = dotF16Generic
	DotQ8_0Generic = dotQ8_0Generic
)
