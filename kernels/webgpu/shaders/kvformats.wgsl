// KV-cache vector formats. One vector is one KV head (HD values) at one
// (slot, position); the cache of one layer is [slot][pos][kvHead] vectors of
// RW u32 words each (kvcache.go windows it by slots), RW padded to a
// multiple of 4 (kvRowWords; the padding stays zero). Per format:
//   F32   HD words of f32 bits.
//   F16   HD/2 words, two halves each (low half = even element).
//   Q8_0  HD/4 + HD/32: the int8 quants of the HD/32 blocks (8 words per
//         block), then one f32 scale per block (the f16-rounded ggml scale, so
//         values equal what ggml's Q8_0 stores).
// Each defines, in X_c, RW and VW (words holding values); in X,
//   kdot(base) = Σ_d q[d]·K[d] for the vector at word base of K, read as
//     vec4<u32> (RW is a multiple of 4 words: every load 16 bytes, a
//     quarter as many as u32 loads); q (workgroup memory) holds vec4s,
//     values 4i..4i+3 in q[i],
//   vload(base, w) = values w·E.. of the V vector at base (unused lanes 0),
// and in X_store
//   store(z, b, src, li) writing HD f32 from the input to the vector at word b (lane li of 64).

{{define "F32_c"}}
const RW = {{.RW}}u;
const VW = {{.HD}}u;
{{end}}

{{define "F32"}}
fn kdot(base: u32) -> f32 {
  let b = base / 4u;
  var s = 0.0;
  for (var i = 0u; i < RW / 4u; i++) {
    var w = K[b + i];
    s += dot(q[i], bitcast<vec4<f32>>(w));
  }
  return s;
}
fn vload(base: u32, w: u32) -> vec4<f32> { return vec4<f32>(bitcast<f32>(V[base + w]), 0.0, 0.0, 0.0); }
{{end}}

{{define "F32_store"}}
fn store(z: u32, b: u32, src: u32, li: u32) {
  for (var d = li; d < {{.HD}}u; d += 64u) { kv_out(z, b + d, bitcast<u32>(kv_in(z, src + d))); }
}
{{end}}

{{define "F16_c"}}
const RW = {{.RW}}u;
const VW = {{.HD}}u / 2u;
{{end}}

{{define "F16"}}
fn kdot(base: u32) -> f32 {
  let b = base / 4u;
  var s = 0.0;
  for (var i = 0u; i < RW / 4u; i++) {
    var w = K[b + i];
    s += dot(q[2u * i], vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)))
      + dot(q[2u * i + 1u], vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
  }
  return s;
}
fn vload(base: u32, w: u32) -> vec4<f32> { return vec4<f32>(unpack2x16float(V[base + w]), 0.0, 0.0); }
{{end}}

{{define "F16_store"}}
fn store(z: u32, b: u32, src: u32, li: u32) {
  for (var w = li; w < RW; w += 64u) {
    kv_out(z, b + w, pack2x16float(vec2<f32>(kv_in(z, src + 2u * w), kv_in(z, src + 2u * w + 1u))));
  }
}
{{end}}

{{define "Q8_0_c"}}
const RW = {{.RW}}u;
const VW = {{.HD}}u / 4u;
fn sbytes(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}
{{end}}

{{define "Q8_0"}}
fn kdot(base: u32) -> f32 {
  let b = base / 4u;
  var s = 0.0;
  for (var blk = 0u; blk < {{.HD}}u / 32u; blk++) {
    var w0 = K[b + 2u * blk];
    var w1 = K[b + 2u * blk + 1u];
    let d = bitcast<f32>(K[b + VW / 4u + blk / 4u][blk % 4u]);
    let q0 = 8u * blk;
    s += d * (dot(q[q0], sbytes(w0.x)) + dot(q[q0 + 1u], sbytes(w0.y)) + dot(q[q0 + 2u], sbytes(w0.z)) + dot(q[q0 + 3u], sbytes(w0.w))
      + dot(q[q0 + 4u], sbytes(w1.x)) + dot(q[q0 + 5u], sbytes(w1.y)) + dot(q[q0 + 6u], sbytes(w1.z)) + dot(q[q0 + 7u], sbytes(w1.w)));
  }
  return s;
}
fn vload(base: u32, w: u32) -> vec4<f32> { return bitcast<f32>(V[base + VW + w / 8u]) * sbytes(V[base + w]); }
{{end}}

{{define "Q8_0_store"}}
fn rnd(x: f32) -> i32 { return i32(sign(x) * floor(abs(x) + 0.5)); }
fn store(z: u32, b: u32, src: u32, li: u32) {
  for (var blk = li; blk < {{.HD}}u / 32u; blk += 64u) {
    var amax = 0.0;
    for (var i = 0u; i < 32u; i++) { amax = max(amax, abs(kv_in(z, src + 32u * blk + i))); }
    let d = amax / 127.0;
    var id = 0.0;
    if (d != 0.0) { id = 1.0 / d; }
    for (var k = 0u; k < 8u; k++) {
      var w = 0u;
      for (var e = 0u; e < 4u; e++) {
        let qv = clamp(rnd(kv_in(z, src + 32u * blk + 4u * k + e) * id), -128, 127);
        w = w | ((bitcast<u32>(qv) & 255u) << (8u * e));
      }
      kv_out(z, b + 8u * blk + k, w);
    }
    kv_out(z, b + VW + blk, bitcast<u32>(unpack2x16float(pack2x16float(vec2<f32>(d, 0.0))).x));
  }
}
{{end}}

{{define "Q4_0_c"}}
// Q4_0: HD/8 + HD/32 words: the nibbles of the HD/32 blocks in ggml order (4
// words per block: byte l holds element l low, element l+16 high), then one
// f32 scale per block (the f16-rounded ggml scale). Value words are virtual:
// w = 8·block + j reads the low (j < 4) or high (j ≥ 4) nibbles of word j%4,
// which are elements 4w..4w+3.
const QW = {{.HD}}u / 8u;
const RW = {{.RW}}u;
const VW = {{.HD}}u / 4u;
fn nib4(w: u32) -> vec4<f32> { return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u)) - vec4<f32>(8.0); }
{{end}}

{{define "Q4_0"}}
fn kdot(base: u32) -> f32 {
  let b = base / 4u;
  var s = 0.0;
  for (var blk = 0u; blk < {{.HD}}u / 32u; blk++) {
    var w = K[b + blk];
    let d = bitcast<f32>(K[b + QW / 4u + blk / 4u][blk % 4u]);
    let q0 = 8u * blk;
    s += d * (dot(q[q0], nib4(w.x)) + dot(q[q0 + 4u], nib4(w.x >> 4u)) + dot(q[q0 + 1u], nib4(w.y)) + dot(q[q0 + 5u], nib4(w.y >> 4u))
      + dot(q[q0 + 2u], nib4(w.z)) + dot(q[q0 + 6u], nib4(w.z >> 4u)) + dot(q[q0 + 3u], nib4(w.w)) + dot(q[q0 + 7u], nib4(w.w >> 4u)));
  }
  return s;
}
fn vload(base: u32, w: u32) -> vec4<f32> {
  let blk = w / 8u;
  let j = w % 8u;
  let word = V[base + 4u * blk + j % 4u];
  return bitcast<f32>(V[base + QW + blk]) * nib4(word >> (4u * (j / 4u)));
}
{{end}}

{{define "Q4_0_store"}}
fn store(z: u32, b: u32, src: u32, li: u32) {
  for (var blk = li; blk < {{.HD}}u / 32u; blk += 64u) {
    var amax = 0.0;
    var mx = 0.0;
    for (var i = 0u; i < 32u; i++) {
      let v = kv_in(z, src + 32u * blk + i);
      if (abs(v) > amax) { amax = abs(v); mx = v; }
    }
    let d = mx / -8.0;
    var id = 0.0;
    if (d != 0.0) { id = 1.0 / d; }
    for (var k = 0u; k < 4u; k++) {
      var w = 0u;
      for (var e = 0u; e < 4u; e++) {
        let x0 = kv_in(z, src + 32u * blk + 4u * k + e) * id;
        let x1 = kv_in(z, src + 32u * blk + 16u + 4u * k + e) * id;
        let q0 = u32(min(15, i32(x0 + 8.5)));
        let q1 = u32(min(15, i32(x1 + 8.5)));
        w = w | ((q0 | (q1 << 4u)) << (8u * e));
      }
      kv_out(z, b + 4u * blk + k, w);
    }
    kv_out(z, b + QW + blk, bitcast<u32>(unpack2x16float(pack2x16float(vec2<f32>(d, 0.0))).x));
  }
}
{{end}}
