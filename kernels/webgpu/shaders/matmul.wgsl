// Y[b][row0 + r] = Σ_i W[r][i] · X[b][i] for one window of weight rows.
// TPR threads share one weight row, striding over its 32-weight units;
// RPW rows per workgroup; NB batch rows per workgroup, so each decoded unit
// is reused NB times (NB = 1 is the decode matvec).
// P: 0 rows in window, 1 units per row, 2 rs, 3 so, 4 batch, 5 Y row stride,
//    6 row0 (window start in the output), 7 X row stride in vec4.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

const TPR = {{.TPR}}u;
const RPW = {{.RPW}}u;
const NB = {{.NB}}u;
const WG = {{.WG}}u;

{{.Common}}
{{.Deq}}

var<workgroup> red: array<f32, {{.Red}}>;

@compute @workgroup_size({{.WG}})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let rows = P[0];
  let nu = P[1];
  let rs = P[2];
  let so = P[3];
  let batch = P[4];
  let ys = P[5];
  let row0 = P[6];
  let xs = P[7];
  let lane = li % TPR;
  let rw = li / TPR;
  let r = wg.x * RPW + rw;
  let b0 = wg.y * NB;
  let nb = min(NB, batch - b0);
  var acc: array<f32, NB>;
  for (var b = 0u; b < NB; b++) { acc[b] = 0.0; }
  if (r < rows) {
    for (var u = lane; u < nu; u += TPR) {
      var w: array<vec4<f32>, 8>;
      deq32(r, u, rs, so, &w);
      for (var b = 0u; b < nb; b++) {
        let xo = (b0 + b) * xs + u * 8u;
        var s = dot(w[0], X[xo]) + dot(w[1], X[xo + 1u]);
        s += dot(w[2], X[xo + 2u]) + dot(w[3], X[xo + 3u]);
        s += dot(w[4], X[xo + 4u]) + dot(w[5], X[xo + 5u]);
        s += dot(w[6], X[xo + 6u]) + dot(w[7], X[xo + 7u]);
        acc[b] += s;
      }
    }
  }
  for (var b = 0u; b < NB; b++) {
    red[(b * RPW + rw) * TPR + lane] = acc[b];
  }
  workgroupBarrier();
  for (var st = TPR / 2u; st > 0u; st = st / 2u) {
    if (lane < st) {
      for (var b = 0u; b < NB; b++) {
        let i = (b * RPW + rw) * TPR + lane;
        red[i] += red[i + st];
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u && r < rows) {
    for (var b = 0u; b < nb; b++) {
      Y[(b0 + b) * ys + row0 + r] = red[(b * RPW + rw) * TPR];
    }
  }
}
