package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// FuzzDecode: Decode never panics; whatever it accepts encodes again, and
// (int8 rows aside, whose scale is recomputed) to exactly the input: the
// encoding is canonical, so two peers can never disagree about a message.
func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		b, err := Encode(m, DefaultLimits())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := DefaultLimits()
		m, err := Decode(b, lim)
		if err != nil {
			if _, isHello := m.(*Hello); m != nil && !isHello {
				t.Fatalf("error %v came with a %T", err, m)
			}
			return
		}
		enc, err := Encode(m, lim)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		m2, err := Decode(enc, lim)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if bt, ok := m.(*Batch); ok && bt.Encoding == EncInt8 {
			b2 := m2.(*Batch)
			for r := range bt.Rows {
				row := bt.Hidden[r*bt.Width : (r+1)*bt.Width]
				var amax float64
				for _, v := range row {
					amax = math.Max(amax, math.Abs(float64(v)))
				}
				for j, v := range row {
					if d := math.Abs(float64(b2.Hidden[r*bt.Width+j] - v)); d > amax/127*0.5001+1e-30 {
						t.Fatalf("int8 row %d value %d: %v became %v", r, j, v, b2.Hidden[r*bt.Width+j])
					}
				}
			}
			return
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted input is not canonical:\n  in %x\n out %x", b, enc)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

// reassembleScript turns a fuzz input into frames so that short inputs can
// describe full 16 KiB frames: each frame is a u16 length n, 12 header bytes
// and a fill byte; the frame is the header's first min(n,12) bytes, then n-12
// fill bytes. Lengths beyond MaxFrameSize+1 are all refused alike, so they
// are cut to that, which keeps each run cheap.
func reassembleScript(b []byte) (frames [][]byte) {
	for len(b) >= 15 && len(frames) < 16 {
		n := min(int(binary.LittleEndian.Uint16(b)), MaxFrameSize+1)
		hdr, fill := b[2:14], b[14]
		b = b[15:]
		fr := make([]byte, n)
		copy(fr, hdr[:min(n, FrameHeaderSize)])
		if n > FrameHeaderSize {
			body := fr[FrameHeaderSize:]
			body[0] = fill
			for filled := 1; filled < len(body); filled *= 2 {
				copy(body[filled:], body[:filled])
			}
		}
		frames = append(frames, fr)
	}
	return frames
}

func scriptFrame(id uint32, total, index, count, n int, fill byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(n))
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint16(b, uint16(index))
	b = binary.LittleEndian.AppendUint16(b, uint16(count))
	return append(b, fill)
}

const fuzzMaxMessage = 4 * FramePayload

// FuzzReassemble: the reassembler never panics, never returns a message over
// its limit, returns exactly the payloads it was given in order, and stays
// failed after an error.
func FuzzReassemble(f *testing.F) {
	for _, s := range reassembleSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReassembler(fuzzMaxMessage)
		var pending []byte
		failed := false
		for _, fr := range reassembleScript(b) {
			msg, err := r.Push(fr)
			if failed {
				if err == nil || msg != nil {
					t.Fatal("reassembler accepted a frame after an error")
				}
				continue
			}
			if err != nil {
				failed = true
				continue
			}
			if len(fr) > FrameHeaderSize {
				pending = append(pending, fr[FrameHeaderSize:]...)
			}
			if msg == nil {
				continue
			}
			if len(msg) > fuzzMaxMessage || len(msg) == 0 {
				t.Fatalf("message of %d bytes", len(msg))
			}
			if !bytes.Equal(msg, pending) {
				t.Fatalf("message of %d bytes differs from the %d payload bytes pushed", len(msg), len(pending))
			}
			pending = pending[:0]
		}
	})
}

func reassembleSeeds() [][]byte {
	two := 2*FramePayload - 100
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return [][]byte{
		// one small message, then a two-frame one
		cat(scriptFrame(0, 5, 0, 1, FrameHeaderSize+5, 'a'),
			scriptFrame(1, two, 0, 2, MaxFrameSize, 'b'),
			scriptFrame(1, two, 1, 2, FrameHeaderSize+two-FramePayload, 'c')),
		// interleaved
		cat(scriptFrame(0, two, 0, 2, MaxFrameSize, 'b'), scriptFrame(1, 5, 0, 1, FrameHeaderSize+5, 'a')),
		// duplicate frame, out-of-order frame, oversized frame
		cat(scriptFrame(0, two, 0, 2, MaxFrameSize, 'b'), scriptFrame(0, two, 0, 2, MaxFrameSize, 'b')),
		cat(scriptFrame(0, 3*FramePayload, 0, 3, MaxFrameSize, 'x'), scriptFrame(0, 3*FramePayload, 2, 3, MaxFrameSize, 'x')),
		scriptFrame(0, FramePayload+1, 0, 1, MaxFrameSize+1, 'o'),
		// over the limit, short
		scriptFrame(0, fuzzMaxMessage+1, 0, 5, MaxFrameSize, 'l'),
		scriptFrame(0, 5, 0, 1, 7, 's'),
	}
}

// TestWriteFuzzCorpus (with -update) commits the seed corpora to
// testdata/fuzz, in the format go test reads.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := samples()
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := Encode(s[name], DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzDecode", "seed-"+name, b)
		// and a damaged copy of each: NaN-filled or truncated
		bad := bytes.Clone(b)
		if bt, ok := s[name].(*Batch); ok && bt.Encoding == EncF16 {
			for i := len(bad) - 2*len(bt.Hidden); i < len(bad); i += 2 {
				binary.LittleEndian.PutUint16(bad[i:], 0x7e00)
			}
		} else {
			bad = bad[:len(bad)-1]
		}
		write("FuzzDecode", "seed-bad-"+name, bad)
	}
	for i, b := range reassembleSeeds() {
		write("FuzzReassemble", fmt.Sprintf("seed-%d", i), b)
	}
}
