// Y[row0 + r] = Σ_i W[r][i] · X[i] for one window of a tiled matrix
// (layout: tiled.go). One workgroup per RT rows: thread (lane l = li % RT,
// slice s = li / RT) computes row RT·wg + l over the blocks s, s+S, s+2S, …
// of that row, so RT adjacent lanes read chunk c of adjacent rows (adjacent
// 16 bytes: with RT = 32 one 512-byte load per warp, with 8 four 128-byte
// lines). Fewer rows per workgroup mean more workgroups for short matrices. x goes through
// workgroup memory in tiles of 4096 values, loaded once per workgroup with
// coalesced loads: read straight from X, the same x lines were requested by
// every warp of every workgroup at once, a hot spot that capped 4-bit
// formats at ~0.05 of copy bandwidth on an H200. U blocks per loop step
// keep several weight loads in flight. The S slices' sums meet in
// workgroup memory (the x tile's, reused).
// P: 0 rows in window, 1 blocks per row, 2 padded rows of the window (the
//    layout's chunk stride), 3 so (scale array word offset), 4 row0
//    (window start in the output row), 5 x offset (vec4s: the batch row's
//    start), 6 y offset (the batch row's start).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

const S = {{.S}}u;
const RT = {{.RT}}u; // rows per workgroup (a divisor of the layout's 32)
const WG = {{.WG}}u;
// x values per block / 4, and x vec4s per tile (16 KiB, a multiple of VPB).
const VPB = {{.VPB}}u;
const TV = 1024u;

var<workgroup> XS: array<vec4<f32>, 1024>;

{{.Common}}
{{.Deq}}
{{.Dot}}

@compute @workgroup_size({{.WG}})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let rows = P[0];
  let nblk = P[1];
  let rr = P[2];
  let so = P[3];
  let row0 = P[4];
  let xo = P[5];
  let yo = P[6];
  let l = li % RT;
  let s = li / RT;
  let r = wg.x * RT + l;
  let nv = nblk * VPB;
{{range .Us}}  var a{{.}} = 0.0;
{{end}}  for (var t0 = 0u; t0 < nv; t0 += TV) {
    let tn = min(TV, nv - t0);
    workgroupBarrier();
    for (var i = li; i < tn; i += WG) {
      XS[i] = X[xo + t0 + i];
    }
    workgroupBarrier();
    let b0 = t0 / VPB;
    let b1 = b0 + tn / VPB;
    var b = b0 + s;
    for (; b + {{.ULast}}u * S < b1; b += {{.U}}u * S) {
{{range .Us}}      a{{.}} += bdot(r, b + {{.}}u * S, rr, so, (b + {{.}}u * S - b0) * VPB);
{{end}}    }
    for (; b < b1; b += S) {
      a0 += bdot(r, b, rr, so, (b - b0) * VPB);
    }
  }
  workgroupBarrier();
  XS[li] = vec4<f32>(a0{{range .URest}} + a{{.}}{{end}}, 0.0, 0.0, 0.0);
  workgroupBarrier();
  if (s == 0u && r < rows) {
    var sum = XS[l].x;
    for (var k = 1u; k < S; k++) {
      sum += XS[l + RT * k].x;
    }
    Y[yo + row0 + r] = sum;
  }
}
