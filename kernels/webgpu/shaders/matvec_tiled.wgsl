// Y[row0 + r] = Σ_i W[r][i] · X[i] for one window of a tiled matrix
// (layout: tiled.go), with FusedMatMul's prologue and epilogue compiled in
// (kernels.Fused): {{if .Norm}}x is RMS-normalised on the way in{{else}}no norm{{end}};
// output mode {{.Mode}} (0 store, split over Y0|Y1|Y2; 1 accumulate into Y0;
// 2 SiLU gate: rows r and H + r, silu(first)·second into Y0, both rows in
// one thread or, with Halves, on lanes l and l + RT/2).
//
// One workgroup per RT rows: thread (lane l = li % RT, slice s = li / RT)
// computes row RT·wg + l over the blocks s, s+S, s+2S, … of that row, so RT
// adjacent lanes read chunk c of adjacent rows (adjacent 16 bytes: with
// RT = 32 one 512-byte load per warp, with 8 four 128-byte lines). Fewer
// rows per workgroup mean more workgroups for short matrices. x goes
// through workgroup memory in tiles of 4096 values, loaded once per
// workgroup with coalesced loads: read straight from X, the same x lines
// were requested by every warp of every workgroup at once, a hot spot that
// capped 4-bit formats at ~0.05 of copy bandwidth on an H200. U blocks per
// loop step keep several weight loads in flight. The S slices' sums meet in
// workgroup memory (the x tile's, reused).
//
// QX ({{if .QX}}on{{else}}off{{end}}: Q8_0, Q4_0, Q4_K unless Options.FloatX): x is staged
// as int8s with one scale per 32 values (XQ, XD; the block dots of
// tileddot.wgsl's *_qx templates multiply in integers). The product then
// differs from the f32 one by x's rounding: about 0.4% of each value, the
// same trade llama.cpp's GPU backends make (its "q8_1" activations). On
// an H100 it made 7B Q4_K decode 1.5× faster (BENCH.md).
//
// The norm: each thread squares the x values it stages, x is staged times
// the norm weight G, and the row sums are scaled by 1/rms at the end —
// W·(x⊙g)/rms, the same product as RMSNorm then MatMul up to rounding,
// without a pass that writes and re-reads the normalised x.
//
// P: 0 rows in window (SiLU: rows of one half), 1 blocks per row, 2 padded
//    rows of the window (the layout's chunk stride), 3 so (scale array word
//    offset), 4 row0 (window start in the output row), 5 x offset (vec4s:
//    the batch row's start), 6–8 offsets of the batch row in Y0, Y1, Y2,
//    9–10 the first output rows that go to Y1 and Y2, 11 eps bits,
//    12 columns (the norm's mean), 13 H (SiLU: the up half's first row);
//    with RoPE: 14 rotated output rows (the product's rows [0, P[14])),
//    15 the batch row's position, 16 hd2 = head width / 2, then hd2
//    frequencies (f32 bits, rope.wgsl's).
//
// RoPE ({{if .Rope}}on{{else}}off{{end}}): the pair (2i, 2i+1) of output rows sits on lanes l and
// l^1 of one workgroup (RT and row0 even), which trade values through
// workgroup memory and rotate them with rope.wgsl's arithmetic.
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> G: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Y0: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y1: array<f32>;
@group(0) @binding(6) var<storage, read_write> Y2: array<f32>;

const S = {{.S}}u;
const RT = {{.RT}}u; // rows per workgroup (a divisor of the layout's 32)
const WG = {{.WG}}u;
// x values per block / 4, and x vec4s per tile (16 KiB, a multiple of VPB).
const VPB = {{.VPB}}u;
const TV = 1024u;

{{if .QX}}var<workgroup> XS: array<vec4<f32>, 256>;
var<workgroup> XQ: array<vec4<u32>, 256>;
var<workgroup> XD: array<vec2<f32>, 128>;
{{else}}var<workgroup> XS: array<vec4<f32>, 1024>;
{{end}}
{{if .Rope}}
const TWO_PI_HI = 6.28125;
const TWO_PI_LO = 0.0019353071795864769;
{{end}}
{{.Common}}
{{.Deq}}
{{.Dot}}

{{if .QX}}// x vec4 i (times the norm weight's vec4 g) rounded to four int8s of
// scale 1/inv, packed low byte first.
fn qword(i: u32, g: u32, inv: f32) -> u32 {
{{if .Norm}}  let xv = X[i] * G[g];
{{else}}  let xv = X[i];
{{end}}  let q = bitcast<vec4<u32>>(vec4<i32>(round(xv * inv))) & vec4<u32>(255u);
  return q.x | (q.y << 8u) | (q.z << 16u) | (q.w << 24u);
}
{{end}}
@compute @workgroup_size({{.WG}})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let rows = P[0];
  let nblk = P[1];
  let rr = P[2];
  let so = P[3];
  let row0 = P[4];
  let xo = P[5];
  let l = li % RT;
  let s = li / RT;
{{if .Halves}}  // SiLU gate on lane halves: lanes [0, RT/2) take the gate rows of
  // outputs ko, lanes [RT/2, RT) the up rows of the same outputs (a lane
  // past the last output reads a gate row instead, and writes nothing).
  let HR = RT / 2u;
  let ko = wg.x * HR + l % HR;
  let r = select(ko, select(ko, P[13] + ko, ko < rows), l >= HR);
{{else}}  let r = wg.x * RT + l;
{{end}}  let nv = nblk * VPB;
{{if .SiLU}}  // Lanes past the last row read their own (zero) padding row instead.
  let r2 = r + select(0u, P[13], r < rows);
{{end}}  var ss = 0.0;
{{range .Us}}  var a{{.}} = 0.0;
{{if $.SiLU}}  var c{{.}} = 0.0;
{{end}}{{end}}  for (var t0 = 0u; t0 < nv; t0 += TV) {
    let tn = min(TV, nv - t0);
    workgroupBarrier();
{{if .QX}}    // x in blocks of 32 values (8 vec4s), one thread each: the largest
    // magnitude m sets the scale m/127, the exact sum serves the formats'
    // offsets. A non-finite x makes sum - sum NaN, so it reaches the
    // output (through the scale) instead of rounding to some int8.
    for (var qb = li; qb < tn / 8u; qb += WG) {
      var m = 0.0;
      var sum = 0.0;
      for (var k = 0u; k < 8u; k++) {
        var xv = X[xo + t0 + 8u * qb + k];
{{if .Norm}}        ss += dot(xv, xv);
        xv = xv * G[t0 + 8u * qb + k];
{{end}}        m = max(m, max(max(abs(xv.x), abs(xv.y)), max(abs(xv.z), abs(xv.w))));
        sum += xv.x + xv.y + xv.z + xv.w;
      }
      let inv = select(0.0, 127.0 / m, m > 0.0);
      let xq = xo + t0 + 8u * qb;
      let gq = t0 + 8u * qb;
      XQ[2u * qb] = vec4<u32>(qword(xq, gq, inv), qword(xq + 1u, gq + 1u, inv), qword(xq + 2u, gq + 2u, inv), qword(xq + 3u, gq + 3u, inv));
      XQ[2u * qb + 1u] = vec4<u32>(qword(xq + 4u, gq + 4u, inv), qword(xq + 5u, gq + 5u, inv), qword(xq + 6u, gq + 6u, inv), qword(xq + 7u, gq + 7u, inv));
      XD[qb] = vec2<f32>(m / 127.0 + (sum - sum), sum);
    }
{{else}}    for (var i = li; i < tn; i += WG) {
{{if .Norm}}      var xv = X[xo + t0 + i];
      ss += dot(xv, xv);
      XS[i] = xv * G[t0 + i];
{{else}}      XS[i] = X[xo + t0 + i];
{{end}}    }
{{end}}
    workgroupBarrier();
    let b0 = t0 / VPB;
    let b1 = b0 + tn / VPB;
    var b = b0 + s;
    for (; b + {{.ULast}}u * S < b1; b += {{.U}}u * S) {
{{range .Us}}      a{{.}} += bdot(r, b + {{.}}u * S, rr, so, (b + {{.}}u * S - b0) * VPB);
{{if $.SiLU}}      c{{.}} += bdot(r2, b + {{.}}u * S, rr, so, (b + {{.}}u * S - b0) * VPB);
{{end}}{{end}}    }
    for (; b < b1; b += S) {
      a0 += bdot(r, b, rr, so, (b - b0) * VPB);
{{if .SiLU}}      c0 += bdot(r2, b, rr, so, (b - b0) * VPB);
{{end}}    }
  }
  workgroupBarrier();
  XS[li] = vec4<f32>(a0{{range .URest}} + a{{.}}{{end}}, {{if .SiLU}}c0{{range .URest}} + c{{.}}{{end}}{{else}}0.0{{end}}, ss, 0.0);
  workgroupBarrier();
  var ya = 0.0;
  var yc = 0.0;
  if (s == 0u) {
    // Lane l's slices are entries l + RT·k, disjoint from every other
    // lane's, so it may overwrite its own entry's w before the barrier.
    var sp = 0.0;
    for (var k = 0u; k < S; k++) {
      let v = XS[l + RT * k];
      ya += v.x;
      yc += v.y;
      sp += v.z;
    }
    XS[l].w = sp;
  }
  workgroupBarrier();
{{if .Swap}}  var v = 0.0;
  if (s == 0u) {
{{else}}  if (s == 0u && r < rows) {
{{end}}    var scale = 1.0;
{{if .Norm}}    var tot = 0.0;
    for (var j = 0u; j < RT; j++) {
      tot += XS[j].w;
    }
    scale = inverseSqrt(tot / f32(P[12]) + bitcast<f32>(P[11]));
{{end}}{{if .Swap}}    v = ya * scale;
  }
  // Lanes trade their results through workgroup memory.
  workgroupBarrier();
  if (s == 0u) {
    XS[l].x = v;
  }
  workgroupBarrier();
{{end}}{{if .Rope}}  if (s == 0u && r < rows) {
    let g = row0 + r;
    if (g < P[14]) {
      let u = XS[l ^ 1u].x;
      let a = f32(P[15]) * bitcast<f32>(P[17u + g / 2u % P[16]]);
      let k = round(a / 6.283185307179586);
      let red = (a - k * TWO_PI_HI) - k * TWO_PI_LO;
      let c = cos(red);
      let sn = sin(red);
      if ((g & 1u) == 0u) {
        v = v * c - u * sn;
      } else {
        v = u * sn + v * c;
      }
    }
{{else if .Halves}}  if (s == 0u && l < HR && ko < rows) {
    let u = XS[l + HR].x;
{{else}}    let v = ya * scale;
{{end}}{{if eq .Mode 0}}{{if not .Rope}}    let g = row0 + r;
{{end}}    if (g < P[9]) {
      Y0[P[6] + g] = v;
    } else if (g < P[10]) {
      Y1[P[7] + g - P[9]] = v;
    } else {
      Y2[P[8] + g - P[10]] = v;
    }
{{else if eq .Mode 1}}    Y0[P[6] + row0 + r] += v;
{{else if .Halves}}    Y0[P[6] + ko] = v / (1.0 + exp(-v)) * u;
{{else}}    let u = yc * scale;
    Y0[P[6] + r] = v / (1.0 + exp(-v)) * u;
{{end}}  }
}
