// Y[dst] = row src of the table window, dequantized.
// P: 0 count, 1 units per row, 2 rs, 3 so, 4 cols/4 (Y row stride in vec4),
//    then count pairs (dst row, src row within window).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<vec4<f32>>;

{{.Common}}
{{.Deq}}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let j = wg.x;
  if (j >= P[0]) { return; }
  let nu = P[1];
  let rs = P[2];
  let so = P[3];
  let ys = P[4];
  let dst = P[5u + 2u * j];
  let src = P[6u + 2u * j];
  for (var u = li; u < nu; u += 64u) {
    var w: array<vec4<f32>, 8>;
    deq32(src, u, rs, so, &w);
    for (var i = 0u; i < 8u; i++) {
      Y[dst * ys + u * 8u + i] = w[i];
    }
  }
}
