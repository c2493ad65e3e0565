// Rotates adjacent pairs (2i, 2i+1) of every head of every row in place by
// pos·freq[i]. freq (f32 bits) is computed on the host in float64.
// P: 0 rows, 1 heads, 2 hd2 = headDim/2, then hd2 freqs, then rows positions.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read_write> X: array<vec2<f32>>;

const TWO_PI_HI = 6.28125;
const TWO_PI_LO = 0.0019353071795864769;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let idx = gid.x + gid.y * nw.x * 64u;
  let rows = P[0];
  let heads = P[1];
  let hd2 = P[2];
  let per = heads * hd2;
  if (idx >= rows * per) { return; }
  let r = idx / per;
  let i = idx % hd2;
  let pos = f32(P[3u + hd2 + r]);
  let a = pos * bitcast<f32>(P[3u + i]);
  // Reduce to [-π, π]: GPU sin/cos are only accurate there.
  let k = round(a / 6.283185307179586);
  let red = (a - k * TWO_PI_HI) - k * TWO_PI_LO;
  let c = cos(red);
  let s = sin(red);
  let v = X[idx];
  X[idx] = vec2<f32>(v.x * c - v.y * s, v.x * s + v.y * c);
}
