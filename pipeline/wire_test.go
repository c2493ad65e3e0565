package pipeline

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden fixtures in testdata/golden")

func digest(seed byte) (d [32]byte) {
	for i := range d {
		d[i] = seed + byte(i)
	}
	return d
}

// samples holds one message of every kind (and every Batch encoding), each
// with distinct values in every field so a misplaced field shows.
func samples() map[string]Message {
	return map[string]Message{
		"hello_stage":  &Hello{Version: ProtocolVersion, Digest: digest(0xa0), Role: RoleStage, NodeID: "node-7", Plan: 3, First: 10, End: 20, Layers: 40},
		"hello_client": &Hello{Version: ProtocolVersion, Digest: digest(0xa0), Role: RoleClient, NodeID: "client-1"},
		"open": &Open{Session: 0x1122334455667788, Epoch: 2, Sampling: Sampling{
			Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64,
			Seed: 42, MaxTokens: 128, Stop: [][]uint32{{13, 13}, {2}}, IgnoreEOS: true,
		}, History: []uint32{1, 450, 4996, 29889}, Generated: 1},
		"close":        &Close{Session: 9, Epoch: 1, Reason: CloseCancelled},
		"batch_tokens": &Batch{Plan: 3, ID: 77, Encoding: EncTokens, Rows: []Row{{Session: 5, Epoch: 1, Pos: 0, Token: 1}, {Session: 5, Epoch: 1, Pos: 1, Token: 15043, Flags: RowSample}, {Session: 6, Pos: 12, Token: 29871, Flags: RowSample}}},
		"batch_f16": &Batch{Plan: 3, ID: 78, Encoding: EncF16, Width: 4, Rows: []Row{{Session: 5, Epoch: 1, Pos: 2}, {Session: 6, Pos: 13, Flags: RowSample}},
			Hidden: []float32{1, -2, 0.5, 65504, 0, -0.25, 3.140625, -1024}},
		// Values are multiples of scale = 127/127 with max |q| = 127, so the
		// int8 encoding is exact and re-encodes to the same bytes.
		"batch_int8": &Batch{Plan: 4, ID: 79, Encoding: EncInt8, Width: 3, Rows: []Row{{Session: 8, Epoch: 3, Pos: 100, Flags: RowSample}, {Session: 9, Pos: 7}},
			Hidden: []float32{127, -64, 1, 0, 0, 0}},
		"token": &Token{Session: 5, Epoch: 1, Pos: 2, ID: 29892, Logprob: -0.5, Stop: StopSequence},
		"error": &Error{Code: ErrCodeDigest, Session: 0, Text: "model digest differs"},
		"ping":  &Ping{Nonce: 0xdeadbeef, Sent: 1234567890},
		"pong":  &Pong{Nonce: 0xdeadbeef, Sent: -1},
	}
}

func readHex(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipeline/ -run Golden -update to create it)", err)
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func writeHex(t *testing.T, path, name string, b []byte) {
	t.Helper()
	var s strings.Builder
	fmt.Fprintf(&s, "# %s: wire protocol v%d golden bytes (%d bytes). '#' starts a comment.\n", name, ProtocolVersion, len(b))
	for i := 0; i < len(b); i += 16 {
		s.WriteString(hex.EncodeToString(b[i:min(len(b), i+16)]))
		s.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGolden(t *testing.T) {
	lim := DefaultLimits()
	for name, m := range samples() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", name+".hex")
			enc, err := Encode(m, lim)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				writeHex(t, path, name, enc)
			}
			want := readHex(t, path)
			if !bytes.Equal(enc, want) {
				t.Fatalf("encoding changed:\n got %x\nwant %x", enc, want)
			}
			got, err := Decode(want, lim)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("decoded %+v, want %+v", got, m)
			}
		})
	}
}

// TestGoldenLayout spells out two messages byte by byte, so the golden files
// are checked against the documented layout and not only against themselves.
func TestGoldenLayout(t *testing.T) {
	lim := DefaultLimits()
	le := binary.LittleEndian
	var want []byte
	want = append(want, byte(KindToken))
	want = le.AppendUint64(want, 5)
	want = le.AppendUint32(want, 1)
	want = le.AppendUint32(want, 2)
	want = le.AppendUint32(want, 29892)
	want = le.AppendUint32(want, 0xbf000000) // -0.5
	want = append(want, byte(StopSequence))
	if got := readHex(t, "testdata/golden/token.hex"); !bytes.Equal(got, want) {
		t.Errorf("token.hex = %x, want %x", got, want)
	}

	want = append(want[:0], byte(KindBatch))
	want = le.AppendUint64(want, 3)      // plan
	want = le.AppendUint64(want, 78)     // id
	want = append(want, byte(EncF16))    // encoding
	want = le.AppendUint32(want, 4)      // width
	want = le.AppendUint32(want, 2)      // rows
	want = le.AppendUint64(want, 5)      // row 0 session
	want = le.AppendUint32(want, 1)      //       epoch
	want = le.AppendUint32(want, 2)      //       pos
	want = append(want, 0)               //       flags
	want = le.AppendUint64(want, 6)      // row 1 session
	want = le.AppendUint32(want, 0)      //       epoch
	want = le.AppendUint32(want, 13)     //       pos
	want = append(want, byte(RowSample)) //       flags
	for _, h := range []uint16{0x3c00, 0xc000, 0x3800, 0x7bff, 0x0000, 0xb400, 0x4248, 0xe400} {
		want = le.AppendUint16(want, h)
	}
	if got := readHex(t, "testdata/golden/batch_f16.hex"); !bytes.Equal(got, want) {
		t.Errorf("batch_f16.hex = %x, want %x", got, want)
	}
	if _, err := Decode(want, lim); err != nil {
		t.Error(err)
	}
}

func TestRoundTrip(t *testing.T) {
	lim := DefaultLimits()
	// f16 rounds: a round trip gives the nearest half, which encodes to the
	// same bytes again.
	b := &Batch{Plan: 1, ID: 2, Encoding: EncF16, Width: 3, Rows: []Row{{Session: 1, Pos: 0}},
		Hidden: []float32{0.1, -1e-7, 123.456}}
	enc, err := Encode(b, lim)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(enc, lim)
	if err != nil {
		t.Fatal(err)
	}
	got := m.(*Batch)
	for i, v := range b.Hidden {
		if d := math.Abs(float64(got.Hidden[i] - v)); d > math.Abs(float64(v))/1024+6e-8 {
			t.Errorf("value %d: %v -> %v", i, v, got.Hidden[i])
		}
	}
	if enc2, _ := Encode(got, lim); !bytes.Equal(enc, enc2) {
		t.Error("re-encoding a decoded f16 batch changed its bytes")
	}

	// int8 keeps each value within half a step of the row's scale.
	q := &Batch{Plan: 1, ID: 3, Encoding: EncInt8, Width: 5, Rows: []Row{{Session: 1, Pos: 1}, {Session: 2, Pos: 9}},
		Hidden: []float32{0.3, -2.5, 1.75, 0, 0.01, 0, 0, 0, 0, 0}}
	enc, err = Encode(q, lim)
	if err != nil {
		t.Fatal(err)
	}
	m, err = Decode(enc, lim)
	if err != nil {
		t.Fatal(err)
	}
	got = m.(*Batch)
	step := 2.5 / 127
	for i, v := range q.Hidden {
		if d := math.Abs(float64(got.Hidden[i] - v)); d > step/2+1e-6 {
			t.Errorf("int8 value %d: %v -> %v (step %v)", i, v, got.Hidden[i], step)
		}
	}

	// Every sample survives encode → decode → encode unchanged.
	for name, s := range samples() {
		enc, err := Encode(s, lim)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d, err := Decode(enc, lim)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(d, s) {
			t.Errorf("%s: round trip gave %+v", name, d)
		}
	}
}

func mustEncode(t *testing.T, m Message) []byte {
	t.Helper()
	b, err := Encode(m, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patch returns a copy of b with v written little-endian at off.
func patch(b []byte, off int, v any) []byte {
	c := bytes.Clone(b)
	switch v := v.(type) {
	case uint8:
		c[off] = v
	case uint16:
		binary.LittleEndian.PutUint16(c[off:], v)
	case uint32:
		binary.LittleEndian.PutUint32(c[off:], v)
	}
	return c
}

func TestDecodeRejects(t *testing.T) {
	lim := DefaultLimits()
	f16 := mustEncode(t, samples()["batch_f16"].(*Batch))
	i8 := mustEncode(t, samples()["batch_int8"].(*Batch))
	tok := mustEncode(t, samples()["batch_tokens"].(*Batch))
	open := mustEncode(t, samples()["open"].(*Open))
	hello := mustEncode(t, samples()["hello_stage"].(*Hello))
	const rowsOff = 1 + 8 + 8 + 1 + 4 // kind, plan, id, encoding, width
	const f16Data = rowsOff + 4 + 2*rowHeaderBytes
	const i8Data = rowsOff + 4 + 2*rowHeaderBytes
	const openHist = 1 + 8 + 4 + 4*8 + 4 + 1 + 1 + (1 + 8) + (1 + 4) + 4 // offset of the history count

	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"unknown kind", []byte{0x63, 1, 2}, "unknown message kind"},
		{"trailing byte", append(mustEncode(t, samples()["token"]), 0), "trailing"},
		{"batch trailing byte", append(bytes.Clone(f16), 0), "do not match"},
		{"f16 NaN", patch(f16, f16Data+2, uint16(0x7e00)), "NaN"},
		{"f16 +Inf", patch(f16, f16Data, uint16(0x7c00)), "NaN, infinite"},
		{"f16 -Inf", patch(f16, f16Data+14, uint16(0xfc00)), "NaN, infinite"},
		{"int8 NaN scale", patch(i8, i8Data, uint32(0x7fc00000)), "scale"},
		{"int8 negative scale", patch(i8, i8Data, uint32(0xbf800000)), "scale"},
		{"int8 huge scale", patch(i8, i8Data, uint32(0x7f000000)), "scale"},
		{"rows claim more than sent", patch(f16, rowsOff, uint32(3)), "do not match"},
		{"rows claim a million", patch(tok, rowsOff, uint32(1<<20)), "do not match"},
		{"zero rows", patch(tok, rowsOff, uint32(0)), "0 rows"},
		{"width beyond limit", patch(f16, rowsOff-4, uint32(1<<20)), "width"},
		{"token batch with width", patch(tok, rowsOff-4, uint32(4)), "width"},
		{"unknown encoding", patch(tok, rowsOff-5, uint8(9)), "unknown encoding"},
		{"unknown row flag", patch(tok, rowsOff+4+16, uint8(0x80)), "unknown flags"},
		{"token id beyond vocab", patch(tok, rowsOff+4+17, uint32(1<<30)), "vocabulary"},
		{"position not increasing", patch(tok, rowsOff+4+(rowHeaderBytes+4)+12, uint32(0)), "position 0 after 0"},
		{"position beyond context", patch(tok, rowsOff+4+12, uint32(1<<30)), "context"},
		{"history claims more than sent", patch(open, openHist, uint32(1000)), "truncated"},
		{"history beyond context", patch(open, openHist, uint32(1<<30)), "limit"},
		{"generated beyond history", patch(open, openHist-4, uint32(5)), "generated"},
		{"top-p NaN", patch(open, 1+8+4+4+4, uint32(0x7fc00000)), "top-p"},
		{"temperature negative", patch(open, 1+8+4, uint32(0xbf800000)), "temperature"},
		{"open unknown flag", patch(open, 1+8+4+4*8+4, uint8(2)), "flags"},
		{"hello other version", patch(hello, 1, uint16(2)), "version 2"},
		{"hello bad range", patch(hello, len(hello)-8, uint32(50)), "range"},
		{"hello unknown role", patch(hello, 1+2+32, uint8(9)), "role"},
		{"hello id with control byte", patch(hello, 1+2+32+2, uint8('\n')), "printable"},
		{"close bad reason", []byte{byte(KindClose), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}, "reason"},
		{"error bad code", patch(mustEncode(t, samples()["error"]), 1, uint16(999)), "code"},
		{"token NaN logprob", patch(mustEncode(t, samples()["token"]), 1+8+4+4+4, uint32(0x7fc00000)), "logprob"},
	}
	for _, c := range cases {
		m, err := Decode(c.b, lim)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Decode = %v, %v; want an error containing %q", c.name, m, err, c.want)
		}
	}

	var ve *VersionError
	if m, err := Decode(patch(hello, 1, uint16(2)), lim); !errors.As(err, &ve) || m.(*Hello).Version != 2 {
		t.Errorf("other version: got %v, %v; want *Hello{Version: 2} and a *VersionError", m, err)
	}

	small := lim
	small.MaxMessageBytes = len(f16) - 1
	if _, err := Decode(f16, small); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized message: %v", err)
	}
	small = lim
	small.MaxSessions = 1
	if _, err := Decode(tok, small); err == nil || !strings.Contains(err.Error(), "sessions") {
		t.Errorf("too many sessions: %v", err)
	}
	small = lim
	small.MaxRows = 2
	if _, err := Decode(tok, small); err == nil || !strings.Contains(err.Error(), "rows") {
		t.Errorf("too many rows: %v", err)
	}
}

// TestDecodePrefixesAndAllocations: no prefix of a valid message decodes
// (each is truncated), none panics, and a decode never allocates much more
// than its input, however large the counts it claims.
func TestDecodePrefixesAndAllocations(t *testing.T) {
	lim := DefaultLimits()
	var inputs [][]byte
	for name, m := range samples() {
		enc := mustEncode(t, m)
		for n := 0; n < len(enc); n++ {
			if _, err := Decode(enc[:n], lim); err == nil {
				t.Errorf("%s: prefix of %d/%d bytes decoded", name, n, len(enc))
			}
			inputs = append(inputs, enc[:n])
		}
	}
	// Headers that claim the largest counts each field can hold.
	inputs = append(inputs,
		[]byte{byte(KindBatch), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(EncF16), 0, 0x40, 0, 0, 0xff, 0xff, 0xff, 0xff},
		[]byte{byte(KindOpen), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		[]byte{byte(KindError), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
	)
	// TotalAlloc counts the whole process, so a goroutine left by an
	// earlier test or the runtime can add a few KiB to one measurement
	// (seen 3 times in 20 runs): take the least of three decodes.
	decodeBytes := func(in []byte) uint64 {
		least := uint64(math.MaxUint64)
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _ = Decode(in, lim)
			runtime.ReadMemStats(&after)
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		return least
	}
	for _, in := range inputs {
		if got := decodeBytes(in); got > uint64(8*len(in)+1024) {
			t.Errorf("decoding %d bytes (%x…) allocated %d bytes", len(in), in[:min(len(in), 24)], got)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	lim := DefaultLimits()
	bad := []Message{
		&Batch{Plan: 1, Encoding: EncF16, Width: 2, Rows: []Row{{Session: 1}}, Hidden: []float32{float32(math.NaN()), 0}},
		&Batch{Plan: 1, Encoding: EncF16, Width: 2, Rows: []Row{{Session: 1}}, Hidden: []float32{70000, 0}},
		&Batch{Plan: 1, Encoding: EncInt8, Width: 2, Rows: []Row{{Session: 1}}, Hidden: []float32{float32(math.Inf(1)), 0}},
		&Batch{Plan: 1, Encoding: EncF16, Width: 2, Rows: []Row{{Session: 1}}, Hidden: []float32{1}},
		&Batch{Plan: 1, Encoding: EncTokens},
		&Hello{Version: ProtocolVersion, Role: RoleStage, NodeID: strings.Repeat("x", MaxNodeID+1), First: 0, End: 1, Layers: 1},
		&Open{Sampling: Sampling{TopP: 1, RepeatPenalty: 1, Stop: [][]uint32{{}}}},
		&Error{Code: ErrCodeInternal, Text: strings.Repeat("é", lim.MaxText)},
		nil,
	}
	for i, m := range bad {
		if b, err := Encode(m, lim); err == nil {
			t.Errorf("case %d: encoded %x", i, b)
		}
	}
}

func TestCheckHello(t *testing.T) {
	a := samples()["hello_stage"].(*Hello)
	b := *a
	if err := CheckHello(a, &b); err != nil {
		t.Fatal(err)
	}
	b.Digest[0] ^= 1
	if err := CheckHello(a, &b); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("digest mismatch: %v", err)
	}
	b = *a
	b.Version = 9
	var ve *VersionError
	if err := CheckHello(a, &b); !errors.As(err, &ve) || ve.Remote != 9 {
		t.Errorf("version mismatch: %v", err)
	}
}
