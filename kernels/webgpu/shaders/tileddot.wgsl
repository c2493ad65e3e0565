// Block dot products for matvec_tiled.wgsl, one per tiled format, each
//   fn bdot(r: u32, b: u32, rr: u32, so: u32, xb: u32) -> f32
// = Σ over block b of row r (BW weights: 32, or 256 for Q4_K) of w·x, with
// the block's x at XS[xb..] (workgroup memory: the same address in every
// lane of a warp, a broadcast).
// Scales and mins are applied once per sub-block to sums of q·x and of x.
// Weight chunks are bound with `var`, not `let`: naga lowers a `let` bound
// to a storage load lazily, re-reading memory (as scalars) at every use of
// a component; a `var` is loaded once, as one 16-byte load.

{{define "F16"}}
fn h4(a: u32, b: u32) -> vec4<f32> { return vec4<f32>(unpack2x16float(a), unpack2x16float(b)); }
fn bdot(r: u32, b: u32, rr: u32, so: u32, xb: u32) -> f32 {
  let t = tile_at(r, 4u * b, rr);
  var v0 = W[t];
  var v1 = W[t + rr];
  var v2 = W[t + 2u * rr];
  var v3 = W[t + 3u * rr];
  return dot(h4(v0.x, v0.y), XS[xb]) + dot(h4(v0.z, v0.w), XS[xb + 1u])
    + dot(h4(v1.x, v1.y), XS[xb + 2u]) + dot(h4(v1.z, v1.w), XS[xb + 3u])
    + dot(h4(v2.x, v2.y), XS[xb + 4u]) + dot(h4(v2.z, v2.w), XS[xb + 5u])
    + dot(h4(v3.x, v3.y), XS[xb + 6u]) + dot(h4(v3.z, v3.w), XS[xb + 7u]);
}
{{end}}

{{define "Q8_0"}}
fn bdot(r: u32, b: u32, rr: u32, so: u32, xb: u32) -> f32 {
  let d = tile_scale(r, b, rr, so);
  let t = tile_at(r, 2u * b, rr);
  var v0 = W[t];
  var v1 = W[t + rr];
  return d * (dot(sbytes(v0.x), XS[xb]) + dot(sbytes(v0.y), XS[xb + 1u])
    + dot(sbytes(v0.z), XS[xb + 2u]) + dot(sbytes(v0.w), XS[xb + 3u])
    + dot(sbytes(v1.x), XS[xb + 4u]) + dot(sbytes(v1.y), XS[xb + 5u])
    + dot(sbytes(v1.z), XS[xb + 6u]) + dot(sbytes(v1.w), XS[xb + 7u]));
}
{{end}}

{{define "Q4_0"}}
fn bdot(r: u32, b: u32, rr: u32, so: u32, xb: u32) -> f32 {
  let d = tile_scale(r, b, rr, so);
  var v = W[tile_at(r, b, rr)];
  let m = vec4<f32>(8.0);
  return d * (dot(nib(v.x) - m, XS[xb]) + dot(nib(v.y) - m, XS[xb + 1u])
    + dot(nib(v.z) - m, XS[xb + 2u]) + dot(nib(v.w) - m, XS[xb + 3u])
    + dot(nib(v.x >> 4u) - m, XS[xb + 4u]) + dot(nib(v.y >> 4u) - m, XS[xb + 5u])
    + dot(nib(v.z >> 4u) - m, XS[xb + 6u]) + dot(nib(v.w >> 4u) - m, XS[xb + 7u]));
}
{{end}}

{{define "Q4_K"}}
// One 64-weight group g of a block: qs chunks 1+2g and 2+2g hold weights
// 64g..64g+31 in their low nibbles (sub-block 2g) and 64g+32..64g+63 in
// their high nibbles (sub-block 2g+1).
fn q4k_group(t: u32, rr: u32, g: u32, xo: u32, sv: vec4<u32>, dm: vec2<f32>) -> f32 {
  var q0 = W[t + rr * (1u + 2u * g)];
  var q1 = W[t + rr * (2u + 2u * g)];
  var x0 = XS[xo];
  var x1 = XS[xo + 1u];
  var x2 = XS[xo + 2u];
  var x3 = XS[xo + 3u];
  var x4 = XS[xo + 4u];
  var x5 = XS[xo + 5u];
  var x6 = XS[xo + 6u];
  var x7 = XS[xo + 7u];
  var y0 = XS[xo + 8u];
  var y1 = XS[xo + 9u];
  var y2 = XS[xo + 10u];
  var y3 = XS[xo + 11u];
  var y4 = XS[xo + 12u];
  var y5 = XS[xo + 13u];
  var y6 = XS[xo + 14u];
  var y7 = XS[xo + 15u];
  let lo = dot(nib(q0.x), x0) + dot(nib(q0.y), x1) + dot(nib(q0.z), x2) + dot(nib(q0.w), x3)
    + dot(nib(q1.x), x4) + dot(nib(q1.y), x5) + dot(nib(q1.z), x6) + dot(nib(q1.w), x7);
  let hi = dot(nib(q0.x >> 4u), y0) + dot(nib(q0.y >> 4u), y1) + dot(nib(q0.z >> 4u), y2) + dot(nib(q0.w >> 4u), y3)
    + dot(nib(q1.x >> 4u), y4) + dot(nib(q1.y >> 4u), y5) + dot(nib(q1.z >> 4u), y6) + dot(nib(q1.w >> 4u), y7);
  let one = vec4<f32>(1.0);
  let sxl = dot(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7, one);
  let sxh = dot(y0 + y1 + y2 + y3 + y4 + y5 + y6 + y7, one);
  let a = q4k_scale_min(sv, 2u * g);
  let c = q4k_scale_min(sv, 2u * g + 1u);
  return dm.x * (a.x * lo + c.x * hi) - dm.y * (a.y * sxl + c.y * sxh);
}
{{template "q4k_bdot"}}
{{end}}

// With QX (matvec_tiled.wgsl) x arrives as int8s: XQ holds 16 per
// vec4<u32> (word k of a block: its values 4k..4k+3, the first in the low
// byte), XD a scale and the exact f32 sum of each 32 values. The block dot
// is then integer: dot4I8Packed multiplies four weight bytes by four x
// bytes and adds, one instruction on GPUs with DP4A where the f32 path
// spends a shift, a mask, a conversion and a multiply-add per weight. Sums
// that need x itself (Q4_K's mins, Q4_0's offset of 8) use the exact sums.
// Block b's x starts at vec4 xb of the tile: XQ[xb / 4], XD[xb / 8].

{{define "Q8_0_qx"}}
fn bdot(r: u32, b: u32, rr: u32, so: u32, xb: u32) -> f32 {
  let d = tile_scale(r, b, rr, so);
  let t = tile_at(r, 2u * b, rr);
  var v0 = W[t];
  var v1 = W[t + rr];
  var a0 = XQ[xb / 4u];
  var a1 = XQ[xb / 4u + 1u];
  let i = dot4I8Packed(v0.x, a0.x) + dot4I8Packed(v0.y, a0.y) + dot4I8Packed(v0.z, a0.z) + dot4I8Packed(v0.w, a0.w)
    + dot4I8Packed(v1.x, a1.x) + dot4I8Packed(v1.y, a1.y) + dot4I8Packed(v1.z, a1.z) + dot4I8Packed(v1.w, a1.w);
  return d * XD[xb / 8u].x * f32(i);
}
{{end}}

{{define "Q4_0_qx"}}
// Nibbles 0..15 are non-negative int8s; the offset of 8 comes off as 8·Σx.
fn bdot(r: u32, b: u32, rr: u32, so: u32, xb: u32) -> f32 {
  let d = tile_scale(r, b, rr, so);
  var v = W[tile_at(r, b, rr)];
  var a0 = XQ[xb / 4u];
  var a1 = XQ[xb / 4u + 1u];
  let M = 0x0F0F0F0Fu;
  let i = dot4I8Packed(v.x & M, a0.x) + dot4I8Packed(v.y & M, a0.y) + dot4I8Packed(v.z & M, a0.z) + dot4I8Packed(v.w & M, a0.w)
    + dot4I8Packed((v.x >> 4u) & M, a1.x) + dot4I8Packed((v.y >> 4u) & M, a1.y) + dot4I8Packed((v.z >> 4u) & M, a1.z) + dot4I8Packed((v.w >> 4u) & M, a1.w);
  let xd = XD[xb / 8u];
  return d * (xd.x * f32(i) - 8.0 * xd.y);
}
{{end}}

{{define "Q4_K_qx"}}
// Group g (64 weights) of a block: low nibbles (sub-block 2g) against x
// values 0..31 of the group, high nibbles (2g+1) against 32..63.
fn q4k_group(t: u32, rr: u32, g: u32, xo: u32, sv: vec4<u32>, dm: vec2<f32>) -> f32 {
  var q0 = W[t + rr * (1u + 2u * g)];
  var q1 = W[t + rr * (2u + 2u * g)];
  var a0 = XQ[xo / 4u];
  var a1 = XQ[xo / 4u + 1u];
  var b0 = XQ[xo / 4u + 2u];
  var b1 = XQ[xo / 4u + 3u];
  let M = 0x0F0F0F0Fu;
  let il = dot4I8Packed(q0.x & M, a0.x) + dot4I8Packed(q0.y & M, a0.y) + dot4I8Packed(q0.z & M, a0.z) + dot4I8Packed(q0.w & M, a0.w)
    + dot4I8Packed(q1.x & M, a1.x) + dot4I8Packed(q1.y & M, a1.y) + dot4I8Packed(q1.z & M, a1.z) + dot4I8Packed(q1.w & M, a1.w);
  let ih = dot4I8Packed((q0.x >> 4u) & M, b0.x) + dot4I8Packed((q0.y >> 4u) & M, b0.y) + dot4I8Packed((q0.z >> 4u) & M, b0.z) + dot4I8Packed((q0.w >> 4u) & M, b0.w)
    + dot4I8Packed((q1.x >> 4u) & M, b1.x) + dot4I8Packed((q1.y >> 4u) & M, b1.y) + dot4I8Packed((q1.z >> 4u) & M, b1.z) + dot4I8Packed((q1.w >> 4u) & M, b1.w);
  let xl = XD[xo / 8u];
  let xh = XD[xo / 8u + 1u];
  let a = q4k_scale_min(sv, 2u * g);
  let c = q4k_scale_min(sv, 2u * g + 1u);
  return dm.x * (a.x * xl.x * f32(il) + c.x * xh.x * f32(ih)) - dm.y * (a.y * xl.y + c.y * xh.y);
}
{{template "q4k_bdot"}}
{{end}}

{{define "q4k_bdot"}}
// A Q4_K block: the header chunk (d|dmin, scales and mins), then the four
// 64-weight groups through the format's q4k_group (f32 or int8 x).
fn bdot(r: u32, b: u32, rr: u32, so: u32, xb: u32) -> f32 {
  let t = tile_at(r, 9u * b, rr);
  var h = W[t];
  let dm = unpack2x16float(h.x);
  let sv = vec4<u32>(h.y, h.z, h.w, 0u);
  return q4k_group(t, rr, 0u, xb, sv, dm) + q4k_group(t, rr, 1u, xb + 16u, sv, dm)
    + q4k_group(t, rr, 2u, xb + 32u, sv, dm) + q4k_group(t, rr, 3u, xb + 48u, sv, dm);
}
{{end}}
