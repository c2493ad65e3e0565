// FusedMatMul's epilogue when the product was computed whole (batches
// beyond the tiled matvec's, or adapters using the classic kernel): A holds
// rows of `stride` values. P: 0 n (values written), 1 mode, 2 width of a Y
// row, 3 stride, 4 first column.
// mode 0: Y[r][c] = A[r][first + c] (one destination of a split);
// mode 1: Y[r][c] = silu(A[r][c])·A[r][width + c] (gate rows over up rows).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= P[0]) { return; }
  let w = P[2];
  let r = i / w;
  let c = i % w;
  let a = A[r * P[3] + P[4] + c];
  if (P[1] == 0u) {
    Y[i] = a;
  } else {
    Y[i] = a / (1.0 + exp(-a)) * A[r * P[3] + w + c];
  }
}
