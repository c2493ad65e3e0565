// Y[r] = X[r] / sqrt(mean(X[r]²) + eps) ⊙ weight (f32 weight bits in W).
// P: 0 rows, 1 width, 2 eps bits.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let r = wg.x;
  let n = P[1];
  let eps = bitcast<f32>(P[2]);
  let base = r * n;
  var s = 0.0;
  for (var i = li; i < n; i += 256u) {
    let v = X[base + i];
    s += v * v;
  }
  red[li] = s;
  workgroupBarrier();
  for (var st = 128u; st > 0u; st = st / 2u) {
    if (li < st) { red[li] += red[li + st]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(red[0] / f32(n) + eps);
  for (var i = li; i < n; i += 256u) {
    Y[base + i] = X[base + i] * scale * bitcast<f32>(W[i]);
  }
}
