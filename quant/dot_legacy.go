package quant

import "math"

// Fused dequantize-and-dot loops for the float types and the 32-weight
// block formats. Each block's integer quants are multiplied with x in
// float32 with several accumulators (independent dependency chains), and the
// block scale is applied once per block.

func dotF32Bytes(row []byte, x []float32) float32 {
	if w, ok := bytesAsF32(row, len(x)); ok {
		return DotF32(w, x)
	}
	var s0, s1 float32
	n := min(len(x), len(row)/4)
	row = row[:4*n]
	i := 0
	for ; i+1 < n; i += 2 {
		b := row[4*i : 4*i+8]
		s0 += math.Float32frombits(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24) * x[i]
		s1 += math.Float32frombits(uint32(b[4])|uint32(b[5])<<8|uint32(b[6])<<16|uint32(b[7])<<24) * x[i+1]
	}
	for ; i < n; i++ {
		b := row[4*i : 4*i+4]
		s0 += math.Float32frombits(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24) * x[i]
	}
	return s0 + s1
}

func dotF16Generic(row []byte, x []float32) float32 {
	var s0, s1, s2, s3 float32
	n := min(len(x), len(row)/2)
	row = row[:2*n]
	tab := f16Table
	i := 0
	for ; i+3 < n; i += 4 {
		b := row[2*i : 2*i+8]
		xx := x[i : i+4]
		s0 += tab[uint16(b[0])|uint16(b[1])<<8] * xx[0]
		s1 += tab[uint16(b[2])|uint16(b[3])<<8] * xx[1]
		s2 += tab[uint16(b[4])|uint16(b[5])<<8] * xx[2]
		s3 += tab[uint16(b[6])|uint16(b[7])<<8] * xx[3]
	}
	for ; i < n; i++ {
		s0 += tab[uint16(row[2*i])|uint16(row[2*i+1])<<8] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBF16Generic(row []byte, x []float32) float32 {
	var s0, s1, s2, s3 float32
	n := min(len(x), len(row)/2)
	row = row[:2*n]
	i := 0
	for ; i+3 < n; i += 4 {
		b := row[2*i : 2*i+8]
		xx := x[i : i+4]
		s0 += math.Float32frombits((uint32(b[0])|uint32(b[1])<<8)<<16) * xx[0]
		s1 += math.Float32frombits((uint32(b[2])|uint32(b[3])<<8)<<16) * xx[1]
		s2 += math.Float32frombits((uint32(b[4])|uint32(b[5])<<8)<<16) * xx[2]
		s3 += math.Float32frombits((uint32(b[6])|uint32(b[7])<<8)<<16) * xx[3]
	}
	for ; i < n; i++ {
		s0 += math.Float32frombits((uint32(row[2*i])|uint32(row[2*i+1])<<8)<<16) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotQ8_0Generic(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 32 && len(row) >= 34 {
		b, xx := row[:34], x[:32]
		qs := b[2:34]
		var s0, s1, s2, s3 float32
		for j := 0; j < 32; j += 4 {
			q, v := qs[j:j+4], xx[j:j+4]
			s0 += float32(int8(q[0])) * v[0]
			s1 += float32(int8(q[1])) * v[1]
			s2 += float32(int8(q[2])) * v[2]
			s3 += float32(int8(q[3])) * v[3]
		}
		acc += f16At(b, 0) * ((s0 + s1) + (s2 + s3))
		row, x = row[34:], x[32:]
	}
	return acc
}

func dotQ4_0Generic(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 32 && len(row) >= 18 {
		b, xx := row[:18], x[:32]
		qs := b[2:18]
		lo, hi := xx[:16], xx[16:32]
		var s0, s1, s2, s3 float32
		for j := 0; j < 16; j += 2 {
			q0, q1 := qs[j], qs[j+1]
			s0 += float32(int(q0&0xF)-8) * lo[j]
			s1 += float32(int(q0>>4)-8) * hi[j]
			s2 += float32(int(q1&0xF)-8) * lo[j+1]
			s3 += float32(int(q1>>4)-8) * hi[j+1]
		}
		acc += f16At(b, 0) * ((s0 + s1) + (s2 + s3))
		row, x = row[18:], x[32:]
	}
	return acc
}

func dotQ4_1Generic(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 32 && len(row) >= 20 {
		b, xx := row[:20], x[:32]
		qs := b[4:20]
		lo, hi := xx[:16], xx[16:32]
		var s0, s1, t0, t1 float32
		for j := 0; j < 16; j++ {
			q := qs[j]
			s0 += float32(q&0xF) * lo[j]
			s1 += float32(q>>4) * hi[j]
			t0 += lo[j]
			t1 += hi[j]
		}
		acc += f16At(b, 0)*(s0+s1) + f16At(b, 2)*(t0+t1)
		row, x = row[20:], x[32:]
	}
	return acc
}

func dotQ5_0Generic(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 32 && len(row) >= 22 {
		b, xx := row[:22], x[:32]
		qh := uint32(b[2]) | uint32(b[3])<<8 | uint32(b[4])<<16 | uint32(b[5])<<24
		qs := b[6:22]
		lo, hi := xx[:16], xx[16:32]
		var s0, s1 float32
		for j := 0; j < 16; j++ {
			q := qs[j]
			h0 := int(qh>>uint(j)&1) << 4
			h1 := int(qh>>uint(j+16)&1) << 4
			s0 += float32((int(q&0xF)|h0)-16) * lo[j]
			s1 += float32((int(q>>4)|h1)-16) * hi[j]
		}
		acc += f16At(b, 0) * (s0 + s1)
		row, x = row[22:], x[32:]
	}
	return acc
}

func dotQ5_1Generic(row []byte, x []float32) float32 {
	var acc float32
	for len(x) >= 32 && len(row) >= 24 {
		b, xx := row[:24], x[:32]
		qh := uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24
		qs := b[8:24]
		lo, hi := xx[:16], xx[16:32]
		var s0, s1, t0, t1 float32
		for j := 0; j < 16; j++ {
			q := qs[j]
			h0 := int(qh>>uint(j)&1) << 4
			h1 := int(qh>>uint(j+16)&1) << 4
			s0 += float32(int(q&0xF)|h0) * lo[j]
			s1 += float32(int(q>>4)|h1) * hi[j]
			t0 += lo[j]
			t1 += hi[j]
		}
		acc += f16At(b, 0)*(s0+s1) + f16At(b, 2)*(t0+t1)
		row, x = row[24:], x[32:]
	}
	return acc
}
