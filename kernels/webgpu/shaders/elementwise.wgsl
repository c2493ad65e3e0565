// Elementwise ops over n values. P: 0 n, 1 mode.
// mode 0: Y = silu(A)·B; mode 1: Y = A + B.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P[0]) { return; }
  let a = A[i];
  if (P[1] == 0u) {
    Y[i] = a / (1.0 + exp(-a)) * B[i];
  } else {
    Y[i] = a + B[i];
  }
}
