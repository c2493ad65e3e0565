// Merges attention.wgsl's split partials: for one (row, head) per
// workgroup, with partial z = (m, l, a[0..HD)) at ((j·heads + h)·S + z)·(HD + 2),
//   out = Σ_z a_z·e^(m_z − M) / Σ_z l_z·e^(m_z − M),  M = max_z m_z.
// Empty splits have m = −inf and weigh e^(−inf) = 0.
// P: 0 n, 1 heads, 2 S, 3 HD, 4 output row stride, then the n output rows.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> PT: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let j = wg.x;
  let h = wg.y;
  let heads = P[1];
  let ns = P[2];
  let hd = P[3];
  let st = hd + 2u;
  let b = (j * heads + h) * ns;
  var mx = PT[b * st];
  for (var z = 1u; z < ns; z++) { mx = max(mx, PT[(b + z) * st]); }
  var l = 0.0;
  for (var z = 0u; z < ns; z++) { l += PT[(b + z) * st + 1u] * exp(PT[(b + z) * st] - mx); }
  let ob = P[5u + j] * P[4] + h * hd;
  for (var d = li; d < hd; d += 64u) {
    var o = 0.0;
    for (var z = 0u; z < ns; z++) {
      let pb = (b + z) * st;
      o += PT[pb + 2u + d] * exp(PT[pb] - mx);
    }
    O[ob + d] = o / l;
  }
}
