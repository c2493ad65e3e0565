// For each row, the k largest logits, largest first, ties to the lower id:
// k rounds of a workgroup arg-max, each excluding everything already taken
// (the order is (value desc, id asc), so "after the previous pick" is exact).
// P: 0 rows, 1 cols, 2 k. O: per row k pairs (id, value bits).
@group(0) @binding(0) var<storage, read> P: array<u32>;
@group(0) @binding(1) var<storage, read> L: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<u32>;

var<workgroup> sv: array<f32, 256>;
var<workgroup> si: array<u32, 256>;

fn before(v1: f32, i1: u32, v2: f32, i2: u32) -> bool {
  return v1 > v2 || (v1 == v2 && i1 < i2);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let row = wg.x;
  let cols = P[1];
  let k = P[2];
  // -inf built at run time: browsers (Tint) reject a constant -inf.
  let ninf = bitcast<f32>(0xff800000u | (P[0] & 0u));
  var pv = ninf;
  var pid = 0xffffffffu;
  for (var j = 0u; j < k; j++) {
    var bv = ninf;
    var bi = 0xffffffffu;
    for (var c = li; c < cols; c += 256u) {
      var v = L[row * cols + c];
      if (!(v == v)) { v = ninf; } // NaN ranks below every number
      let later = j == 0u || before(pv, pid, v, c);
      if (later && before(v, c, bv, bi)) {
        bv = v;
        bi = c;
      }
    }
    sv[li] = bv;
    si[li] = bi;
    workgroupBarrier();
    for (var st = 128u; st > 0u; st = st / 2u) {
      if (li < st && before(sv[li + st], si[li + st], sv[li], si[li])) {
        sv[li] = sv[li + st];
        si[li] = si[li + st];
      }
      workgroupBarrier();
    }
    pv = sv[0];
    pid = si[0];
    if (li == 0u) {
      O[(row * k + j) * 2u] = pid;
      O[(row * k + j) * 2u + 1u] = bitcast<u32>(pv);
    }
    workgroupBarrier();
  }
}
