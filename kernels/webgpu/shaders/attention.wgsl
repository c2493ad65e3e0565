// Causal attention for one (row, head, split) per workgroup over one cache
// window: online softmax over tiles of 256 positions, one score per
// thread, over the split's positions [z·CH, (z+1)·CH) up to pos. With one
// split the workgroup writes the output; with several (few rows, long
// history: 32 heads alone would busy 32 multiprocessors) it writes its
// max m, sum l and unnormalised sums to O as a partial of HD + 2 values,
// at ((j·heads + h)·S + z)·(HD + 2), and attncombine.wgsl merges them. The
// scores of a tile go through workgroup memory. The value sums are split
// over four groups of 64 threads: group g takes positions g, g+4, g+8, …
// of the tile, eight per step with their V loads issued before any is
// used, and thread t of a group VW/64 value words; the groups' sums meet
// at the end. (One group of 64 threads over tiles of 64, one position per
// step, waited on one load at a time: 23 µs for 72 positions on an H100,
// with 32 heads busying 32 of its 132 multiprocessors.)
// P: 0 n, 1 ctx, 2 heads, 3 kvHeads, 4 q row stride, 5 scale bits, 6 slot0,
//    7 S splits, 8 CH positions per split, then n triples (batch row, slot,
//    pos).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> V: array<u32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

const T = 256u; // threads, and positions per tile
const G = 4u;   // value groups of 64 threads

var<workgroup> q: array<vec4<f32>, {{.QV}}>;
var<workgroup> sc: array<f32, 256>;
var<workgroup> red: array<f32, 256>;
var<workgroup> part: array<vec4<f32>, 256>;

{{.KVC}}
{{.KV}}

const J = (VW + 63u) / 64u;
const E = {{.HD}}u / VW;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let j = wg.x;
  let h = wg.y;
  let ctx = P[1];
  let heads = P[2];
  let kvh = P[3];
  let qs = P[4];
  let scale = bitcast<f32>(P[5]);
  let ns = P[7];
  let row = P[9u + 3u * j];
  let sl = P[10u + 3u * j] - P[6];
  let pos = P[11u + 3u * j];
  let lo = wg.z * P[8];
  let hi = min(pos + 1u, lo + P[8]); // this split's positions: [lo, hi)
  let g = h / (heads / kvh);
  let wl = li % 64u;
  let gi = li / 64u;
  let qb = row * qs + h * {{.HD}}u;
  for (var d = li; d < 4u * {{.QV}}u; d += T) {
    var v = 0.0;
    if (d < {{.HD}}u) { v = Q[qb + d]; }
    q[d / 4u][d % 4u] = v;
  }
  workgroupBarrier();
  // -inf built at run time: browsers (Tint) reject a constant -inf.
  let ninf = bitcast<f32>(0xff800000u | (P[0] & 0u));
  var m = ninf;
  var l = 0.0;
  var acc: array<vec4<f32>, J>;
  for (var i = 0u; i < J; i++) { acc[i] = vec4<f32>(0.0); }
  for (var t0 = lo; t0 < hi; t0 += T) {
    let p = t0 + li;
    var s = ninf;
    if (p < hi) {
      s = kdot(((sl * ctx + p) * kvh + g) * RW) * scale;
    }
    sc[li] = s;
    red[li] = s;
    workgroupBarrier();
    for (var st = T / 2u; st > 0u; st = st / 2u) {
      if (li < st) { red[li] = max(red[li], red[li + st]); }
      workgroupBarrier();
    }
    let mn = max(m, red[0]);
    let alpha = exp(m - mn);
    l = l * alpha;
    for (var i = 0u; i < J; i++) { acc[i] = acc[i] * alpha; }
    let cnt = min(T, hi - t0);
    // Positions past cnt weigh 0 and read position t0 + cnt - 1 instead.
    for (var c = gi; c < cnt; c += 8u * G) {
{{range .Us}}      let c{{.}} = c + {{.}}u * G;
      let e{{.}} = select(0.0, exp(sc[min(c{{.}}, T - 1u)] - mn), c{{.}} < cnt);
      let vb{{.}} = ((sl * ctx + t0 + min(c{{.}}, cnt - 1u)) * kvh + g) * RW;
{{end}}{{range .Us}}      l += e{{.}};
{{end}}      for (var i = 0u; i < J; i++) {
        let w = wl + 64u * i;
        if (w < VW) {
{{range .Us}}          let v{{.}} = vload(vb{{.}}, w);
{{end}}{{range .Us}}          acc[i] += e{{.}} * v{{.}};
{{end}}        }
      }
    }
    m = mn;
    workgroupBarrier();
  }
  // Every thread of a group holds its group's l.
  red[li] = l;
  workgroupBarrier();
  let lt = red[0] + red[64] + red[128] + red[192];
  var ob = row * qs + h * {{.HD}}u;
  var norm = 1.0 / lt;
  if (ns > 1u) {
    let pb = ((j * heads + h) * ns + wg.z) * ({{.HD}}u + 2u);
    if (li == 0u) {
      O[pb] = m;
      O[pb + 1u] = lt;
    }
    ob = pb + 2u;
    norm = 1.0;
  }
  for (var i = 0u; i < J; i++) {
    part[li] = acc[i];
    workgroupBarrier();
    let w = wl + 64u * i;
    if (gi == 0u && w < VW) {
      let o = (part[wl] + part[wl + 64u] + part[wl + 128u] + part[wl + 192u]) * norm;
      for (var e = 0u; e < E; e++) { O[ob + w * E + e] = o[e]; }
    }
    workgroupBarrier();
  }
}
