package cpu

import (
	"fmt"
	"math"
	"sort"

	"github.com/tabshard/tabshard/kernels"
)

func (d *Device) TopK(logits kernels.Buffer, rows, cols, k int) ([]int32, []float32, error) {
	if rows <= 0 || cols <= 0 || k <= 0 || k > cols {
		return nil, nil, fmt.Errorf("cpu: TopK of %d from %d×%d", k, rows, cols)
	}
	in, err := d.buf(logits, rows*cols, "TopK logits")
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int32, rows*k)
	vals := make([]float32, rows*k)
	for r := 0; r < rows; r++ {
		topKRow(in[r*cols:(r+1)*cols], ids[r*k:(r+1)*k], vals[r*k:(r+1)*k])
	}
	return ids, vals, nil
}

// topKRow fills ids/vals with the len(ids) largest values of row, largest
// first, lower id first among equals. NaN ranks below every number.
func topKRow(row []float32, ids []int32, vals []float32) {
	k := len(ids)
	n := 0 // entries held, kept sorted
	better := func(v float32, id int32, j int) bool {
		return v > vals[j] || (v == vals[j] && id < ids[j])
	}
	for i, v := range row {
		if v != v {
			v = float32(math.Inf(-1))
		}
		id := int32(i)
		if n == k && !better(v, id, k-1) {
			continue
		}
		j := sort.Search(n, func(j int) bool { return better(v, id, j) })
		if n < k {
			n++
		}
		copy(ids[j+1:n], ids[j:n-1])
		copy(vals[j+1:n], vals[j:n-1])
		ids[j], vals[j] = id, v
	}
}
