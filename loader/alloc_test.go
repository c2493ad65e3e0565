package loader

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/quant"
)

// The inputs that cost the most memory per input byte stay within the bound
// the fuzz targets enforce.
func TestAllocationWorstCases(t *testing.T) {
	const n = 100000
	var nested bytes.Buffer
	for range n {
		putU32(&nested, uint32(TypeUint8))
		putU64(&nested, 0)
	}
	var strs bytes.Buffer
	for range n {
		putU64(&strs, 0)
	}
	many := newGGUF()
	for i := range n / 10 {
		many.tensor(fmt.Sprint(i), quant.F32, nil, nil)
	}
	manyKV := newGGUF()
	for i := range n / 10 {
		manyKV.raw(fmt.Sprint(i), TypeUint8, []byte{0})
	}
	var hdr strings.Builder
	hdr.WriteString("{")
	for i := range n / 10 {
		if i > 0 {
			hdr.WriteString(",")
		}
		fmt.Fprintf(&hdr, `"%d":{"dtype":"F16","shape":[],"data_offsets":[0,0]}`, i)
	}
	hdr.WriteString("}")
	st := withHeader(hdr.String(), nil)
	cases := map[string]struct {
		b     []byte
		parse func([]byte) error
	}{
		"nested empty arrays": {newGGUF().arr("k", TypeArray, n, nested.Bytes()).bytes(), ggufParse},
		"empty strings":       {newGGUF().arr("k", TypeString, n, strs.Bytes()).bytes(), ggufParse},
		"tensor table":        {many.bytes(), ggufParse},
		"key/values":          {manyKV.bytes(), ggufParse},
		"safetensors entries": {st, func(b []byte) error {
			_, err := parseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
			return err
		}},
	}
	for name, c := range cases {
		before := heapAllocated()
		err := c.parse(c.b)
		used := heapAllocated() - before
		t.Logf("%-20s %8d bytes in, %9d allocated (%.1f×), err %v", name, len(c.b), used, float64(used)/float64(len(c.b)), err)
		if used > allocBound(len(c.b)) {
			t.Errorf("%s: %d bytes allocated for %d of input", name, used, len(c.b))
		}
	}
}

func ggufParse(b []byte) error { _, err := openBytes(b); return err }
