// Bandwidth probe: each thread folds (xor) the vec4 words i, i+T, i+2T, …
// of X (T = threads in the grid), U loads per loop step, and writes its
// fold to Y[thread]. Timing it with few and many workgroups tells how much
// of the card's bandwidth a kernel with that many threads can draw.
// P: 0 n (vec4 words).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let n = P[0];
  let t = nw.x * 256u;
  var acc = vec4<u32>(0u);
  var i = gid.x;
  for (; i + {{.Last}}u * t < n; i += {{.U}}u * t) {
{{range .Us}}    let a{{.}} = X[i + {{.}}u * t];
{{end}}    acc = acc{{range .Us}} ^ a{{.}}{{end}};
  }
  for (; i < n; i += t) {
    acc = acc ^ X[i];
  }
  Y[gid.x] = acc;
}
