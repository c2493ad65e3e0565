// Causal attention for one (row, head) per workgroup over one cache window:
// online softmax over tiles of 256 positions, one score per thread. The
// scores of a tile go through workgroup memory. The value sums are split
// over four groups of 64 threads: group g takes positions g, g+4, g+8, …
// of the tile, eight per step with their V loads issued before any is
// used, and thread t of a group VW/64 value words; the groups' sums meet
// at the end. (One group of 64 threads over tiles of 64, one position per
// step, waited on one load at a time: 23 µs for 72 positions on an H100,
// with 32 heads busying 32 of its 132 multiprocessors.)
// P: 0 n, 1 ctx, 2 heads, 3 kvHeads, 4 q row stride, 5 scale bits, 6 slot0,
//    then n triples (batch row, slot, pos).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<u32>;
@group(0) @binding(3) var<storage, read> V: array<u32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

const T = 256u; // threads, and positions per tile
const G = 4u;   // value groups of 64 threads

var<workgroup> q: array<f32, {{.HD}}>;
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
  let row = P[7u + 3u * j];
  let sl = P[8u + 3u * j] - P[6];
  let pos = P[9u + 3u * j];
  let g = h / (heads / kvh);
  let wl = li % 64u;
  let gi = li / 64u;
  let qb = row * qs + h * {{.HD}}u;
  for (var d = li; d < {{.HD}}u; d += T) { q[d] = Q[qb + d]; }
  workgroupBarrier();
  // -inf built at run time: browsers (Tint) reject a constant -inf.
  let ninf = bitcast<f32>(0xff800000u | (P[0] & 0u));
  var m = ninf;
  var l = 0.0;
  var acc: array<vec4<f32>, J>;
  for (var i = 0u; i < J; i++) { acc[i] = vec4<f32>(0.0); }
  for (var t0 = 0u; t0 <= pos; t0 += T) {
    let p = t0 + li;
    var s = ninf;
    if (p <= pos) {
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
    let cnt = min(T, pos + 1u - t0);
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
  let ob = row * qs + h * {{.HD}}u;
  for (var i = 0u; i < J; i++) {
    part[li] = acc[i];
    workgroupBarrier();
    let w = wl + 64u * i;
    if (gi == 0u && w < VW) {
      let o = (part[wl] + part[wl + 64u] + part[wl + 128u] + part[wl + 192u]) / lt;
      for (var e = 0u; e < E; e++) { O[ob + w * E + e] = o[e]; }
    }
    workgroupBarrier();
  }
}
