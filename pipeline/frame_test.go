package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}

func TestFrameRoundTrip(t *testing.T) {
	var f Framer
	r := NewReassembler(1 << 20)
	for i, n := range []int{1, 17, FramePayload - 1, FramePayload, FramePayload + 1, 3*FramePayload + 5, 1 << 20} {
		msg := pattern(n, byte(i))
		frames, err := f.Split(msg)
		if err != nil {
			t.Fatal(err)
		}
		if want := (n + FramePayload - 1) / FramePayload; len(frames) != want {
			t.Fatalf("%d bytes: %d frames, want %d", n, len(frames), want)
		}
		for j, fr := range frames {
			if len(fr) > MaxFrameSize {
				t.Fatalf("%d bytes: frame %d is %d bytes", n, j, len(fr))
			}
			got, err := r.Push(fr)
			if err != nil {
				t.Fatalf("%d bytes: frame %d: %v", n, j, err)
			}
			if (got != nil) != (j == len(frames)-1) {
				t.Fatalf("%d bytes: frame %d of %d returned %d bytes", n, j, len(frames), len(got))
			}
			if got != nil && !bytes.Equal(got, msg) {
				t.Fatalf("%d bytes: reassembled message differs", n)
			}
		}
		if r.Pending() {
			t.Fatal("Pending after a complete message")
		}
	}
}

func TestFrameIDWraps(t *testing.T) {
	f := Framer{next: math.MaxUint32}
	r := NewReassembler(100)
	r.next = math.MaxUint32
	for i := 0; i < 3; i++ {
		frames, err := f.Split([]byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := r.Push(frames[0]); err != nil || !bytes.Equal(msg, []byte{byte(i)}) {
			t.Fatalf("message %d: %x, %v", i, msg, err)
		}
	}
}

// frame builds a frame by hand.
func frame(id uint32, total, index, count int, payload int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint16(b, uint16(index))
	b = binary.LittleEndian.AppendUint16(b, uint16(count))
	return append(b, make([]byte, payload)...)
}

func TestFrameRejects(t *testing.T) {
	two := 2*FramePayload - 100 // a message of two frames
	last := two - FramePayload
	cases := []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"short", [][]byte{{1, 2, 3}}, "shorter than its header"},
		{"oversized", [][]byte{frame(0, FramePayload+1, 0, 1, FramePayload+1)}, "exceeds"},
		{"message over limit", [][]byte{frame(0, 1<<20+1, 0, 65, FramePayload)}, "limit"},
		{"empty message", [][]byte{frame(0, 0, 0, 0, 0)}, "empty"},
		{"wrong count", [][]byte{frame(0, two, 0, 3, FramePayload)}, "frames cannot carry"},
		{"starts mid-message", [][]byte{frame(0, two, 1, 2, last)}, "first frame expected"},
		{"skips a message id", [][]byte{frame(1, 5, 0, 1, 5)}, "message 0 expected"},
		{"frame out of order", [][]byte{frame(0, 3*FramePayload, 0, 3, FramePayload), frame(0, 3*FramePayload, 2, 3, FramePayload)}, "out of order (frame 1"},
		{"duplicate frame", [][]byte{frame(0, two, 0, 2, FramePayload), frame(0, two, 0, 2, FramePayload)}, "duplicate"},
		{"duplicate message", [][]byte{frame(0, 5, 0, 1, 5), frame(0, 5, 0, 1, 5)}, "duplicate of a completed message"},
		{"interleaved", [][]byte{frame(0, two, 0, 2, FramePayload), frame(1, 5, 0, 1, 5)}, "interleaved with incomplete message 0"},
		{"total changes", [][]byte{frame(0, two, 0, 2, FramePayload), frame(0, two+1, 1, 2, last+1)}, "first frame said"},
		{"short middle frame", [][]byte{frame(0, two, 0, 2, FramePayload-1)}, "carries"},
		{"long last frame", [][]byte{frame(0, two, 0, 2, FramePayload), frame(0, two, 1, 2, last+1)}, "carries"},
	}
	for _, c := range cases {
		r := NewReassembler(1 << 20)
		var err error
		for _, fr := range c.frames {
			if _, err = r.Push(fr); err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
			continue
		}
		// Errors are permanent: the link is finished.
		if _, again := r.Push(frame(0, 1, 0, 1, 1)); again == nil || r.Pending() {
			t.Errorf("%s: reassembler accepted a frame after %v", c.name, err)
		}
	}
	var fe *FrameError
	r := NewReassembler(10)
	if _, err := r.Push(frame(0, 11, 0, 1, 11)); !errors.As(err, &fe) || fe.MessageID != 0 {
		t.Errorf("over-limit frame: %v, want a *FrameError", err)
	}
	var f Framer
	if _, err := f.Split(nil); err == nil {
		t.Error("framed an empty message")
	}
}

// TestFrameGrowthFollowsData: a first frame claiming a huge message does
// not make the reassembler allocate for it.
func TestFrameGrowthFollowsData(t *testing.T) {
	r := NewReassembler(1 << 30)
	if _, err := r.Push(frame(0, 1<<29, 0, (1<<29+FramePayload-1)/FramePayload, FramePayload)); err != nil {
		t.Fatal(err)
	}
	if c := cap(r.buf); c > 2*FramePayload {
		t.Errorf("after one frame the buffer holds %d bytes", c)
	}
}
