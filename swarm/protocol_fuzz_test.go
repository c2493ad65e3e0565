package swarm

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. Whatever it accepts must
// re-encode, decode again to the same value and re-encode to the same bytes:
// a message the server accepts is one it can also forward. The seed corpus is
// the golden files plus testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range golden {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			return
		}
		enc, err := Encode(b)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", b, err)
		}
		b2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoding %s is refused: %v", enc, err)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", b, b2)
		}
		enc2, err := Encode(b2)
		if err != nil || string(enc2) != string(enc) {
			t.Fatalf("encoding is not stable: %s vs %s (%v)", enc, enc2, err)
		}
	})
}
