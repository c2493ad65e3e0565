//go:build !amd64 || purego

package quant

func dotRows(t Type, w []byte, rb int, x, dst []float32) { dotRowsGeneric(t, w, rb, x, dst) }
