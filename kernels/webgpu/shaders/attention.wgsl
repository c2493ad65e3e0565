// Causal attention for one (row, head) per workgroup over one cache window:
// online softmax over tiles of 64 positions. Scores of a tile go through
// workgroup memory; each thread then accumulates VW/64 value words.
// P: 0 n, 1 ctx, 2 heads, 3 kvHeads, 4 q row stride, 5 scale bits, 6 slot0,
//    then n triples (batch row, slot, pos).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<u32>;
@group(0) @binding(3) var<storage, read> V: array<u32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

var<workgroup> q: array<f32, {{.HD}}>;
var<workgroup> sc: array<f32, 64>;
var<workgroup> red: array<f32, 64>;

{{.KVC}}
{{.KV}}

const J = (VW + 63u) / 64u;
const E = {{.HD}}u / VW;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let j = wg.x;
  let h = wg.y;
  let ctx = P[1];
  let heads = P[2];
  let kvh = P[3];
  let qs = P[4];
  let scale = bitcast<f32>(P[5]);
  let row = P[7u + 3u * j];
  let sl = P[8u + 3u * j] - P[6];
  let pos = P[9u + 3u * j];
  let g = h / (heads / kvh);
  let qb = row * qs + h * {{.HD}}u;
  for (var d = li; d < {{.HD}}u; d += 64u) { q[d] = Q[qb + d]; }
  workgroupBarrier();
  // -inf built at run time: browsers (Tint) reject a constant -inf.
  let ninf = bitcast<f32>(0xff800000u | (P[0] & 0u));
  var m = ninf;
  var l = 0.0;
  var acc: array<vec4<f32>, J>;
  for (var i = 0u; i < J; i++) { acc[i] = vec4<f32>(0.0); }
  for (var t0 = 0u; t0 <= pos; t0 += 64u) {
    let p = t0 + li;
    var s = ninf;
    if (p <= pos) {
      s = kdot(((sl * ctx + p) * kvh + g) * RW) * scale;
    }
    sc[li] = s;
    red[li] = s;
    workgroupBarrier();
    for (var st = 32u; st > 0u; st = st / 2u) {
      if (li < st) { red[li] = max(red[li], red[li + st]); }
      workgroupBarrier();
    }
    let mn = max(m, red[0]);
    let alpha = exp(m - mn);
    l = l * alpha;
    for (var i = 0u; i < J; i++) { acc[i] = acc[i] * alpha; }
    let cnt = min(64u, pos + 1u - t0);
    for (var c = 0u; c < cnt; c++) {
      let e = exp(sc[c] - mn);
      l += e;
      let vb = ((sl * ctx + t0 + c) * kvh + g) * RW;
      for (var i = 0u; i < J; i++) {
        let w = li + 64u * i;
        if (w < VW) { acc[i] += e * vload(vb, w); }
      }
    }
    m = mn;
    workgroupBarrier();
  }
  let ob = row * qs + h * {{.HD}}u;
  for (var i = 0u; i < J; i++) {
    let w = li + 64u * i;
    if (w < VW) {
      let o = acc[i] / l;
      for (var e = 0u; e < E; e++) { O[ob + w * E + e] = o[e]; }
    }
  }
}
