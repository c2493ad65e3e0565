// Y[j] = X[rows[j]], rows of cols values. P: 0 count, 1 cols, then rows.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let j = wg.x;
  let cols = P[1];
  let src = P[2u + j];
  for (var c = li; c < cols; c += 64u) {
    Y[j * cols + c] = X[src * cols + c];
  }
}
