// KV-cache vector formats. One vector is one KV head (HD values) at one
// (slot, position); the cache of one layer is [slot][pos][kvHead] vectors of
// RW u32 words each (kvcache.go windows it by slots). Per format:
//   F32   RW = HD words of f32 bits.
//   F16   RW = HD/2 words, two halves each (low half = even element).
//   Q8_0  RW = HD/4 + HD/32: the int8 quants of the HD/32 blocks (8 words per
//         block), then one f32 scale per block (the f16-rounded ggml scale, so
//         values equal what ggml's Q8_0 stores).
// Each defines, in X_c, RW and VW (words holding values); in X,
//   kdot(base) = Σ_d q[d]·K[d] for the vector at word base of K (q in workgroup memory),
//   vload(base, w) = values w·E.. of the V vector at base (unused lanes 0),
// and in X_store
//   store(z, b, src, li) writing HD f32 from the input to the vector at word b (lane li of 64).

{{define "F32_c"}}
const RW = {{.HD}}u;
const VW = {{.HD}}u;
{{end}}

{{define "F32"}}
fn kdot(base: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < {{.HD}}u; d++) { s += q[d] * bitcast<f32>(K[base + d]); }
  return s;
}
fn vload(base: u32, w: u32) -> vec4<f32> { return vec4<f32>(bitcast<f32>(V[base + w]), 0.0, 0.0, 0.0); }
{{end}}

{{define "F32_store"}}
fn store(z: u32, b: u32, src: u32, li: u32) {
  for (var d = li; d < {{.HD}}u; d += 64u) { put(z, b + d, bitcast<u32>(get(z, src + d))); }
}
{{end}}

{{define "F16_c"}}
const RW = {{.HD}}u / 2u;
const VW = {{.HD}}u / 2u;
{{end}}

{{define "F16"}}
fn kdot(base: u32) -> f32 {
  var s = 0.0;
  for (var w = 0u; w < RW; w++) { s += dot(vec2<f32>(q[2u * w], q[2u * w + 1u]), unpack2x16float(K[base + w])); }
  return s;
}
fn vload(base: u32, w: u32) -> vec4<f32> { return vec4<f32>(unpack2x16float(V[base + w]), 0.0, 0.0); }
{{end}}

{{define "F16_store"}}
fn store(z: u32, b: u32, src: u32, li: u32) {
  for (var w = li; w < RW; w += 64u) {
    put(z, b + w, pack2x16float(vec2<f32>(get(z, src + 2u * w), get(z, src + 2u * w + 1u))));
  }
}
{{end}}

{{define "Q8_0_c"}}
const RW = {{.HD}}u / 4u + {{.HD}}u / 32u;
const VW = {{.HD}}u / 4u;
fn sbytes(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}
{{end}}

{{define "Q8_0"}}
fn kdot(base: u32) -> f32 {
  var s = 0.0;
  for (var blk = 0u; blk < {{.HD}}u / 32u; blk++) {
    var t = 0.0;
    for (var k = 0u; k < 8u; k++) {
      let d = 32u * blk + 4u * k;
      t += dot(vec4<f32>(q[d], q[d + 1u], q[d + 2u], q[d + 3u]), sbytes(K[base + 8u * blk + k]));
    }
    s += t * bitcast<f32>(K[base + VW + blk]);
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
    for (var i = 0u; i < 32u; i++) { amax = max(amax, abs(get(z, src + 32u * blk + i))); }
    let d = amax / 127.0;
    var id = 0.0;
    if (d != 0.0) { id = 1.0 / d; }
    for (var k = 0u; k < 8u; k++) {
      var w = 0u;
      for (var e = 0u; e < 4u; e++) {
        let qv = clamp(rnd(get(z, src + 32u * blk + 4u * k + e) * id), -128, 127);
        w = w | ((bitcast<u32>(qv) & 255u) << (8u * e));
      }
      put(z, b + 8u * blk + k, w);
    }
    put(z, b + VW + blk, bitcast<u32>(unpack2x16float(pack2x16float(vec2<f32>(d, 0.0))).x));
  }
}
{{end}}

