// Package precision applies quant's precision policies to whole models and
// measures what they cost: it converts tensors to the planned formats
// (in memory, as a model.TensorSource, or into a GGUF file), measures each
// tensor's sensitivity to a lower format as the KL divergence of the output
// distribution on a calibration text, and runs the accuracy–memory analysis
// (bytes, perplexity, greedy agreement) behind `tabshard analyze`.
package precision
