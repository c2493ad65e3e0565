// Y[b][row0 + r] = Σ_i W[r][i] · X[b][i] for one window of weight rows.
// TPR threads share one weight row, striding over its 32-weight units;
// RPW row groups per workgroup, each of RPT consecutive rows. With NB = 1
// (the decode matvec) a thread loads its 32 x values once per unit and
// reuses them for its RPT rows (x loads, not weight bytes, limit 4-bit
// formats otherwise). With NB > 1 (batches) each decoded unit is also
// reused for NB batch rows.
// P: 0 rows in window, 1 units per row, 2 rs, 3 so, 4 batch, 5 Y row stride,
//    6 row0 (window start in the output), 7 X row stride in vec4.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

const TPR = {{.TPR}}u;
const RPW = {{.RPW}}u;
const NB = {{.NB}}u;
const RPT = {{.RPT}}u;
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
  let r0 = (wg.x * RPW + rw) * RPT;
  let b0 = wg.y * NB;
  let nb = min(NB, batch - b0);
  var acc: array<f32, {{.Acc}}>;
  for (var i = 0u; i < {{.Acc}}u; i++) { acc[i] = 0.0; }
  let nr = min(RPT, select(0u, rows - r0, r0 < rows));
{{if eq .NB 1}}
  // Rows past the end re-read the last row (never written) so that the
  // loops have constant trip counts and unroll.
  let rlast = max(rows, 1u) - 1u;
  for (var u = lane; u < nu; u += TPR) {
    var xv: array<vec4<f32>, 8>;
    let xo = b0 * xs + u * 8u;
    for (var i = 0u; i < 8u; i++) { xv[i] = X[xo + i]; }
    for (var j = 0u; j < RPT; j++) {
      var w: array<vec4<f32>, 8>;
      deq32(min(r0 + j, rlast), u, rs, so, &w);
      var s = dot(w[0], xv[0]) + dot(w[1], xv[1]);
      s += dot(w[2], xv[2]) + dot(w[3], xv[3]);
      s += dot(w[4], xv[4]) + dot(w[5], xv[5]);
      s += dot(w[6], xv[6]) + dot(w[7], xv[7]);
      acc[j] += s;
    }
  }
{{else}}
  // Each thread decodes its unit of RPT rows once, then streams the NB
  // batch rows' x through them: weights are reused NB times, x RPT times.
  // Rows and batch rows past the end re-read the last one (never written).
  let rlast = max(rows, 1u) - 1u;
  for (var u = lane; u < nu; u += TPR) {
    // One named array per row (unrolled by the template) so that the
    // decoded weights stay in registers instead of an indexed local array.
{{range .Rows}}    var w{{.}}: array<vec4<f32>, 8>;
    deq32(min(r0 + {{.}}u, rlast), u, rs, so, &w{{.}});
{{end}}    for (var b = 0u; b < NB; b++) {
      let xo = min(b0 + b, batch - 1u) * xs + u * 8u;
      var xv: array<vec4<f32>, 8>;
      for (var i = 0u; i < 8u; i++) { xv[i] = X[xo + i]; }
{{range .Rows}}      acc[{{.}}u * NB + b] += dot(w{{.}}[0], xv[0]) + dot(w{{.}}[1], xv[1]) + dot(w{{.}}[2], xv[2]) + dot(w{{.}}[3], xv[3])
        + dot(w{{.}}[4], xv[4]) + dot(w{{.}}[5], xv[5]) + dot(w{{.}}[6], xv[6]) + dot(w{{.}}[7], xv[7]);
{{end}}    }
  }
{{end}}
  // acc index a = j·NB + b; reduce over the TPR lanes.
  for (var a = 0u; a < {{.Acc}}u; a++) {
    red[(a * RPW + rw) * TPR + lane] = acc[a];
  }
  workgroupBarrier();
  for (var st = TPR / 2u; st > 0u; st = st / 2u) {
    if (lane < st) {
      for (var a = 0u; a < {{.Acc}}u; a++) {
        let i = (a * RPW + rw) * TPR + lane;
        red[i] += red[i + st];
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u) {
{{if eq .NB 1}}
    for (var j = 0u; j < nr; j++) {
      Y[b0 * ys + row0 + r0 + j] = red[(j * RPW + rw) * TPR];
    }
{{else}}
    for (var j = 0u; j < nr; j++) {
      for (var b = 0u; b < nb; b++) {
        Y[(b0 + b) * ys + row0 + r0 + j] = red[((j * NB + b) * RPW + rw) * TPR];
      }
    }
{{end}}
  }
}
