package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Framing: data channels deliver messages of bounded size (browsers agree on
// 16 KiB), so each wire message travels as frames of at most MaxFrameSize
// bytes. A frame is a 12-byte header then a piece of the message:
//
//	u32 message id   consecutive per link, starting at 0 (wrapping)
//	u32 total        bytes of the whole message, 1..limit
//	u16 index        of this frame, 0..count-1
//	u16 count        frames in the message = ceil(total / FramePayload)
//
// Every frame but the last carries exactly FramePayload bytes, the last the
// rest, so a frame's size is fully determined by its header. Links are
// reliable and ordered and a sender writes one message's frames back to back,
// so the receiver holds at most one partial message; anything else (a gap,
// a repeat, a frame of another message before the current one completes, a
// header that disagrees with the message's first frame) is a broken or
// hostile peer and the link is dropped.
const (
	MaxFrameSize    = 16 << 10
	FrameHeaderSize = 12
	FramePayload    = MaxFrameSize - FrameHeaderSize
	maxFrameCount   = 1<<16 - 1
)

// Framer cuts messages into frames for one link. It is not safe for
// concurrent use: the link's writer owns it and sends each message's frames
// consecutively.
type Framer struct {
	next uint32
}

// Split returns msg's frames (views of one new buffer, in send order) and
// advances the message id.
func (f *Framer) Split(msg []byte) ([][]byte, error) {
	if len(msg) == 0 {
		return nil, errors.New("pipeline: cannot frame an empty message")
	}
	count := (len(msg) + FramePayload - 1) / FramePayload
	if count > maxFrameCount || uint64(len(msg)) > 1<<32-1 {
		return nil, fmt.Errorf("pipeline: message of %d bytes needs more than %d frames", len(msg), maxFrameCount)
	}
	buf := make([]byte, 0, len(msg)+count*FrameHeaderSize)
	frames := make([][]byte, 0, count)
	for i := 0; i < count; i++ {
		piece := msg[i*FramePayload : min(len(msg), (i+1)*FramePayload)]
		start := len(buf)
		buf = binary.LittleEndian.AppendUint32(buf, f.next)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(msg)))
		buf = binary.LittleEndian.AppendUint16(buf, uint16(i))
		buf = binary.LittleEndian.AppendUint16(buf, uint16(count))
		buf = append(buf, piece...)
		frames = append(frames, buf[start:len(buf):len(buf)])
	}
	f.next++
	return frames, nil
}

// FrameError reports a frame that breaks the framing rules. After one, the
// Reassembler refuses everything: the caller drops the link and reports it.
type FrameError struct {
	MessageID uint32
	Index     int
	Reason    string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("pipeline: frame %d of message %d: %s", e.Index, e.MessageID, e.Reason)
}

// Reassembler rebuilds messages from one link's frames. It is not safe for
// concurrent use: the link's reader owns it.
type Reassembler struct {
	limit  int
	next   uint32 // id of the message expected next
	active bool   // a message is partly received
	total  int
	count  int
	index  int // next frame index expected
	buf    []byte
	err    error
}

// NewReassembler returns a Reassembler that accepts messages of up to
// maxMessage bytes (use the same Limits.MaxMessageBytes as Decode).
func NewReassembler(maxMessage int) *Reassembler {
	return &Reassembler{limit: maxMessage}
}

// Push takes the next frame. It returns the message once its last frame
// arrives (the caller owns it), nil while one is incomplete, and an error for
// any frame that breaks the rules; errors are permanent.
func (r *Reassembler) Push(frame []byte) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	msg, err := r.push(frame)
	if err != nil {
		r.err = err
		r.buf = nil
	}
	return msg, err
}

// Pending reports whether a message is partly received.
func (r *Reassembler) Pending() bool { return r.active && r.err == nil }

func (r *Reassembler) push(frame []byte) ([]byte, error) {
	if len(frame) < FrameHeaderSize {
		return nil, fmt.Errorf("pipeline: frame of %d bytes is shorter than its header", len(frame))
	}
	if len(frame) > MaxFrameSize {
		return nil, fmt.Errorf("pipeline: frame of %d bytes exceeds %d", len(frame), MaxFrameSize)
	}
	id := binary.LittleEndian.Uint32(frame[0:])
	total := int(binary.LittleEndian.Uint32(frame[4:]))
	index := int(binary.LittleEndian.Uint16(frame[8:]))
	count := int(binary.LittleEndian.Uint16(frame[10:]))
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, &FrameError{MessageID: id, Index: index, Reason: fmt.Sprintf(format, args...)}
	}
	if r.active {
		switch {
		case id != r.next:
			return fail("interleaved with incomplete message %d (%d of %d frames received)", r.next, r.index, r.count)
		case total != r.total || count != r.count:
			return fail("header says %d bytes in %d frames, the message's first frame said %d in %d", total, count, r.total, r.count)
		case index < r.index:
			return fail("duplicate (frame %d expected)", r.index)
		case index > r.index:
			return fail("out of order (frame %d expected)", r.index)
		}
	} else {
		switch {
		case id == r.next-1:
			return fail("duplicate of a completed message (message %d expected)", r.next)
		case id != r.next:
			return fail("out of order (message %d expected)", r.next)
		case index != 0:
			return fail("out of order (first frame expected)")
		case total == 0:
			return fail("empty message")
		case total > r.limit:
			return fail("message of %d bytes exceeds the %d-byte limit", total, r.limit)
		case count != (total+FramePayload-1)/FramePayload:
			return fail("%d frames cannot carry %d bytes (%d needed)", count, total, (total+FramePayload-1)/FramePayload)
		}
		r.active, r.total, r.count, r.index = true, total, count, 0
		// Grow with what arrives, never with what the header claims.
		r.buf = make([]byte, 0, min(total, FramePayload))
	}
	want := FramePayload
	if index == count-1 {
		want = total - (count-1)*FramePayload
	}
	if got := len(frame) - FrameHeaderSize; got != want {
		return fail("carries %d bytes, frame %d of %d for a %d-byte message carries %d", got, index, count, total, want)
	}
	r.buf = append(r.buf, frame[FrameHeaderSize:]...)
	r.index++
	if r.index < r.count {
		return nil, nil
	}
	msg := r.buf
	r.active, r.buf = false, nil
	r.next++
	return msg, nil
}
