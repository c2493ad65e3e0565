// Y[i] = X[i] (P[1] = 0) or 0 (P[1] = 1) for i < P[0] u32 words,
// grid-stride. A compute pass instead of a copy or clear command: gogpu's
// Vulkan backend puts a barrier after every dispatch but none after copy
// and clear commands, so a dispatch recorded after one of those could run
// before its writes land.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let n = P[0];
  let zero = P[1] == 1u;
  for (var i = gid.x; i < n; i += nw.x * 256u) {
    if (zero) {
      Y[i] = 0u;
    } else {
      Y[i] = X[i];
    }
  }
}
