package quant

import "fmt"

// Supported reports whether this package can dequantize, quantize and take
// dot products of rows of type t.
func Supported(t Type) bool {
	switch t {
	case F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K:
		return true
	}
	return false
}

// errUnsupported names the type so a caller's log says what to convert.
func errUnsupported(op string, t Type) error {
	if !t.Known() {
		return fmt.Errorf("quant: %s: unknown type id %d", op, uint32(t))
	}
	return fmt.Errorf("quant: %s: format %s is not supported", op, t)
}

// CheckRow validates that row holds exactly n weights of type t and that t is
// supported, so the unchecked DotRow/DequantizeRow may then be used with it.
func CheckRow(t Type, row []byte, n int) error { return checkRow("row", t, row, n) }

// checkRow is CheckRow with the operation named in the error.
func checkRow(op string, t Type, row []byte, n int) error {
	if !Supported(t) {
		return errUnsupported(op, t)
	}
	l := layouts[t]
	if n < 0 || n%l.elems != 0 {
		return fmt.Errorf("quant: %s: %s rows hold multiples of %d weights, not %d", op, t, l.elems, n)
	}
	if want := n / l.elems * l.bytes; len(row) != want {
		return fmt.Errorf("quant: %s: %d %s weights need %d bytes, got %d", op, n, t, want, len(row))
	}
	return nil
}
