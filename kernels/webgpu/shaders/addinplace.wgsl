// Y += B over n values (the residual add when dst aliases an input).
// P: 0 n, 1 double (Y = 2Y when both inputs are Y itself).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P[0]) { return; }
  if (P[1] == 1u) {
    Y[i] = Y[i] + Y[i];
  } else {
    Y[i] = Y[i] + B[i];
  }
}
