// Stores k (z = 0) and v (z = 1) rows into one window of the cache.
// P: 0 n, 1 ctx, 2 kvHeads, 3 slot0, then n triples (batch row, slot, pos).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> KI: array<f32>;
@group(0) @binding(2) var<storage, read> VI: array<f32>;
@group(0) @binding(3) var<storage, read_write> KC: array<u32>;
@group(0) @binding(4) var<storage, read_write> VC: array<u32>;

fn kv_in(z: u32, i: u32) -> f32 {
  if (z == 0u) { return KI[i]; }
  return VI[i];
}
fn kv_out(z: u32, i: u32, v: u32) {
  if (z == 0u) { KC[i] = v; } else { VC[i] = v; }
}

{{.KVC}}
{{.KV}}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let j = wg.x;
  let g = wg.y;
  let ctx = P[1];
  let kvh = P[2];
  let row = P[4u + 3u * j];
  let sl = P[5u + 3u * j] - P[3];
  let pos = P[6u + 3u * j];
  let b = ((sl * ctx + pos) * kvh + g) * RW;
  let src = (row * kvh + g) * {{.HD}}u;
  store(wg.z, b, src, li);
}
