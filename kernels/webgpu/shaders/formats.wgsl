// Weight decoders: one per format, each defining
//   fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>)
// which writes the 32 consecutive weights of "unit" u (columns 32u..32u+31)
// of row r into o. W (array<vec4<u32>>, so aligned 16-byte chunks load in
// one instruction; wd(i) reads u32 word i) is one window of the matrix: rows
// [row0, row0+rows) of the tensor, row r counted from the window start.
// rs is the row stride in u32 words of the per-row part; so is where the
// window's scale array starts (only Q8_0 and Q4_0 have one).
//
// Device layouts (all u32-aligned; repacked by matrix.go on upload):
//   F32   row-major f32 bits; rs = cols.
//   F16, Q8_0, Q4_0, Q4_K: the tiled layout of tiled.go (16-byte chunks,
//         chunk-major: chunk c of every row, then chunk c+1; Q8_0/Q4_0
//         scales block-major at word so); rs is then the window's rows
//         rounded up to 32. Bytes within a chunk are
//         GGUF's: F16 two halves per word (low = even column); Q8_0 16 int8
//         quants; Q4_0 a block's 16 nibble bytes (byte l holds weight l low,
//         l+16 high); Q4_K 144-byte blocks as 9 chunks, the header (d|dmin,
//         12 bytes of 6-bit scales/mins) then 128 bytes of qs.
//   Q5_K  GGUF block unchanged (176 bytes = 44 words): d|dmin, scales (1-3),
//         qh (4-11), qs (12-43).
//   Q6_K  GGUF block (210 bytes) padded to 212 (53 words): ql (0-31),
//         qh (32-47), int8 scales (48-51), d in the low half of word 52.
//   Q3_K  GGUF block (110 bytes) padded to 112 (28 words): hmask (0-7),
//         qs (8-23), scales (24-26), d in the low half of word 27.
//   Q2_K  GGUF block unchanged (84 bytes = 21 words): scales (0-3), qs (4-19),
//         word 20 = d|dmin.
// K-quant units are sub-blocks: block u/8, sub-block u%8.

{{define "common"}}

fn nib(w: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u)); }
fn crumb(w: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(3u)); }
fn sbytes(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}
fn wd(i: u32) -> u32 { return W[i >> 2u][i & 3u]; }
fn wbyte(base: u32, n: u32) -> u32 { return (wd(base + n / 4u) >> (8u * (n % 4u))) & 255u; }
// byte n of the 16 bytes in v
fn vbyte(v: vec4<u32>, n: u32) -> u32 { return (v[n / 4u] >> (8u * (n % 4u))) & 255u; }
// vec4 index of chunk c of row r in the tiled layout (tiled.go); rr is
// the window's padded row count.
fn tile_at(r: u32, c: u32, rr: u32) -> u32 { return c * rr + r; }
// the f16 scale of block b of row r in the tiled layout (Q8_0, Q4_0).
fn tile_scale(r: u32, b: u32, rr: u32, so: u32) -> f32 {
  let h = b * rr + r;
  return half_at(wd(so + h / 2u), (h & 1u) == 1u);
}
fn half_at(word: u32, hi: bool) -> f32 {
  let v = unpack2x16float(word);
  return select(v.x, v.y, hi);
}
{{end}}

{{define "F32"}}
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  let b = (r * rs + u * 32u) / 4u;
  for (var i = 0u; i < 8u; i++) {
    (*o)[i] = bitcast<vec4<f32>>(W[b + i]);
  }
}
{{end}}

{{define "F16"}}
// tiled: unit u is chunks 4u..4u+3; rs = padded rows.
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  let t = tile_at(r, 4u * u, rs);
  for (var i = 0u; i < 4u; i++) {
    let v = W[t + rs * i];
    (*o)[2u * i] = vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
    (*o)[2u * i + 1u] = vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w));
  }
}
{{end}}

{{define "Q8_0"}}
// tiled: unit u is chunks 2u, 2u+1; rs = padded rows.
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  let d = tile_scale(r, u, rs, so);
  let t = tile_at(r, 2u * u, rs);
  let v0 = W[t];
  let v1 = W[t + rs];
  (*o)[0] = d * sbytes(v0.x);
  (*o)[1] = d * sbytes(v0.y);
  (*o)[2] = d * sbytes(v0.z);
  (*o)[3] = d * sbytes(v0.w);
  (*o)[4] = d * sbytes(v1.x);
  (*o)[5] = d * sbytes(v1.y);
  (*o)[6] = d * sbytes(v1.z);
  (*o)[7] = d * sbytes(v1.w);
}
{{end}}

{{define "Q4_0"}}
// tiled: unit u is chunk u; rs = padded rows.
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  let d = tile_scale(r, u, rs, so);
  let v = W[tile_at(r, u, rs)];
  let m = vec4<f32>(8.0);
  (*o)[0] = d * (nib(v.x) - m);
  (*o)[1] = d * (nib(v.y) - m);
  (*o)[2] = d * (nib(v.z) - m);
  (*o)[3] = d * (nib(v.w) - m);
  (*o)[4] = d * (nib(v.x >> 4u) - m);
  (*o)[5] = d * (nib(v.y >> 4u) - m);
  (*o)[6] = d * (nib(v.z >> 4u) - m);
  (*o)[7] = d * (nib(v.w >> 4u) - m);
}
{{end}}

{{define "Q4_K"}}
// scale and min of sub-block s (0..7) from the 12 scale bytes in sv.xyz.
fn q4k_scale_min(sv: vec4<u32>, s: u32) -> vec2<f32> {
  if (s < 4u) {
    return vec2<f32>(f32(vbyte(sv, s) & 63u), f32(vbyte(sv, s + 4u) & 63u));
  }
  return vec2<f32>(f32((vbyte(sv, s + 4u) & 15u) | ((vbyte(sv, s - 4u) >> 6u) << 4u)),
                   f32((vbyte(sv, s + 4u) >> 4u) | ((vbyte(sv, s) >> 6u) << 4u)));
}
// tiled: block u/8 is chunks 9(u/8) (header) and 9(u/8)+1..+8 (qs);
// rs = padded rows.
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  let t = tile_at(r, 9u * (u / 8u), rs);
  let s = u % 8u;
  let h = W[t];
  let dm = unpack2x16float(h.x);
  let sm = q4k_scale_min(vec4<u32>(h.y, h.z, h.w, 0u), s);
  let d = dm.x * sm.x;
  let m = vec4<f32>(dm.y * sm.y);
  let q = t + rs * (1u + 2u * (s / 2u));
  let sh = 4u * (s % 2u);
  let q0 = W[q] >> vec4<u32>(sh);
  let q1 = W[q + rs] >> vec4<u32>(sh);
  (*o)[0] = d * nib(q0.x) - m;
  (*o)[1] = d * nib(q0.y) - m;
  (*o)[2] = d * nib(q0.z) - m;
  (*o)[3] = d * nib(q0.w) - m;
  (*o)[4] = d * nib(q1.x) - m;
  (*o)[5] = d * nib(q1.y) - m;
  (*o)[6] = d * nib(q1.z) - m;
  (*o)[7] = d * nib(q1.w) - m;
}
{{end}}

{{define "Q5_K"}}
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  // base in vec4s: a block is 11 vec4s (header, 2 of qh, 8 of qs).
  let base = (r * rs + (u / 8u) * 44u) / 4u;
  let s = u % 8u;
  let h = W[base];
  let dm = unpack2x16float(h.x);
  // 12 bytes of 6-bit scales and mins: bytes 0-11 of h.yzw.
  let sv = vec4<u32>(h.y, h.z, h.w, 0u);
  var sc: u32;
  var mn: u32;
  if (s < 4u) {
    sc = vbyte(sv, s) & 63u;
    mn = vbyte(sv, s + 4u) & 63u;
  } else {
    sc = (vbyte(sv, s + 4u) & 15u) | ((vbyte(sv, s - 4u) >> 6u) << 4u);
    mn = (vbyte(sv, s + 4u) >> 4u) | ((vbyte(sv, s) >> 6u) << 4u);
  }
  let d = dm.x * f32(sc);
  let m = vec4<f32>(dm.y * f32(mn));

  let q = base + 3u + 2u * (s / 2u);
  let sh = 4u * (s % 2u);
  var ql: array<vec4<u32>, 2>;
  var qh: array<vec4<u32>, 2>;
  ql[0] = W[q] >> vec4<u32>(sh);
  ql[1] = W[q + 1u] >> vec4<u32>(sh);
  qh[0] = W[base + 1u] >> vec4<u32>(s);
  qh[1] = W[base + 2u] >> vec4<u32>(s);
  for (var k = 0u; k < 8u; k++) {
    let lo = (vec4<u32>(ql[k / 4u][k % 4u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u);
    let hi = ((vec4<u32>(qh[k / 4u][k % 4u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(1u)) << vec4<u32>(4u);
    (*o)[k] = d * vec4<f32>(lo | hi) - m;
  }
}
{{end}}

{{define "Q6_K"}}
fn q6scale(base: u32, i: u32) -> f32 {
  let b = wbyte(base + 48u, i);
  return f32(bitcast<i32>(b << 24u) >> 24u);
}
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  let base = r * rs + (u / 8u) * 53u;
  let s = u % 8u;
  let h = s / 4u;
  let q = s % 4u;
  let d = unpack2x16float(wd(base + 52u)).x;
  let d0 = d * q6scale(base, 8u * h + 2u * q);
  let d1 = d * q6scale(base, 8u * h + 2u * q + 1u);
  let ql = base + 16u * h + 8u * (q & 1u);
  let qh = base + 32u + 8u * h;
  let sh = 4u * (q / 2u);
  for (var k = 0u; k < 8u; k++) {
    let lo = (vec4<u32>(wd(ql + k) >> sh) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u);
    let hi = (vec4<u32>(wd(qh + k) >> (2u * q)) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(3u);
    let v = vec4<f32>(lo | (hi << vec4<u32>(4u))) - vec4<f32>(32.0);
    (*o)[k] = select(d1, d0, k < 4u) * v;
  }
}
{{end}}

{{define "Q3_K"}}
fn q3scale(sv: vec4<u32>, i: u32) -> f32 {
  var lo: u32;
  if (i < 8u) {
    lo = vbyte(sv, i) & 15u;
  } else {
    lo = vbyte(sv, i - 8u) >> 4u;
  }
  let hi = (vbyte(sv, 8u + i % 4u) >> (2u * (i / 4u))) & 3u;
  return f32(i32(lo | (hi << 4u)) - 32);
}
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  // base in vec4s: a block is 7 vec4s (2 of hmask, 4 of qs, scales and d).
  let base = (r * rs + (u / 8u) * 28u) / 4u;
  let s = u % 8u;
  let h = s / 4u;
  let j = s % 4u;
  let tail = W[base + 6u];
  let sv = vec4<u32>(tail.x, tail.y, tail.z, 0u);
  let d = unpack2x16float(tail.w).x;
  let d0 = d * q3scale(sv, 2u * s);
  let d1 = d * q3scale(sv, 2u * s + 1u);
  var qs: array<vec4<u32>, 2>;
  var hm: array<vec4<u32>, 2>;
  qs[0] = W[base + 2u + 2u * h] >> vec4<u32>(2u * j);
  qs[1] = W[base + 3u + 2u * h] >> vec4<u32>(2u * j);
  hm[0] = W[base] >> vec4<u32>(s);
  hm[1] = W[base + 1u] >> vec4<u32>(s);
  for (var k = 0u; k < 8u; k++) {
    let q = crumb(qs[k / 4u][k % 4u]);
    let mk = vec4<f32>((vec4<u32>(hm[k / 4u][k % 4u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(1u));
    (*o)[k] = select(d1, d0, k < 4u) * (q - 4.0 * (vec4<f32>(1.0) - mk));
  }
}
{{end}}

{{define "Q2_K"}}
fn deq32(r: u32, u: u32, rs: u32, so: u32, o: ptr<function, array<vec4<f32>, 8>>) {
  let base = r * rs + (u / 8u) * 21u;
  let s = u % 8u;
  let h = s / 4u;
  let j = s % 4u;
  let dm = unpack2x16float(wd(base + 20u));
  let s0 = wbyte(base, 2u * s);
  let s1 = wbyte(base, 2u * s + 1u);
  let qs = base + 4u + 8u * h;
  for (var k = 0u; k < 8u; k++) {
    let sc = select(s1, s0, k < 4u);
    let q = crumb(wd(qs + k) >> (2u * j));
    (*o)[k] = dm.x * f32(sc & 15u) * q - vec4<f32>(dm.y * f32(sc >> 4u));
  }
}
{{end}}
