package cpu

import "unsafe"

// f32View reinterprets little-endian F32 weight bytes in place (every target
// we build for is little-endian, and rows start at multiples of 4 bytes).
func f32View(b []byte) []float32 {
	if len(b) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}
