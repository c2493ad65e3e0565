//go:build !amd64 || purego

package quant

func dequantRows(t Type, src []byte, dst []float32) { DequantizeRow(t, src, dst) }
