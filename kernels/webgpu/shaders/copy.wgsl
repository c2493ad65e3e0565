// Bandwidth probe: Y = X over n vec4 words, grid-stride (used by CopyBandwidth).
// P: 0 n.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let n = P[0];
  for (var i = gid.x; i < n; i += nw.x * 256u) {
    Y[i] = X[i];
  }
}
