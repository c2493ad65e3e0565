// Package pipeline carries inference traffic between the stages of a sharded
// model and its clients: the binary wire protocol (this file), its framing into
// data-channel frames (frame.go), sessions, the client API and replay.
//
// # Wire protocol, version 1
//
// One message is one byte of Kind followed by its body; every integer and
// float is little-endian, every count is checked against Limits before
// anything is allocated for it, and a message must be consumed exactly
// (trailing bytes are an error). A message travels as one or more frames
// (frame.go), so the decoder always sees a whole message.
//
// The ring (see DESIGN.md, "The path of one token"):
//
//	client ── Hello, Open, Batch(tokens) ──► stage 0 ── Hello, Open, Batch(hidden) ──► … ──► last stage
//	client ◄──────────────────── Token ───────────────────────────────────────────────────── last stage
//	stage 0 ◄─────────────────── Token ───────────────────────────────────────────────────── last stage
//
// Every link opens with Hello both ways; a peer whose protocol version or
// model digest differs is refused (CheckHello). Open travels down the pipeline
// so that every stage reserves KV for the session and the last stage learns
// its sampling settings and token history (for the repetition penalty and stop
// sequences). Batch carries rows for one hop: token ids into stage 0, hidden
// vectors (f16, or int8 with an f32 scale per row) between stages. The last
// stage sends each sampled Token to the client and to stage 0, which embeds it
// and starts the next step without a trip to the client.
//
// Re-plans: every row and token carries its session's epoch. When the plan
// changes the client re-opens the session with a larger epoch and replays its
// token history as a prefill; a stage that holds the session at a newer epoch
// drops rows and tokens of older epochs, so nothing computed on the old
// pipeline can leak into the new one. Batches also carry the plan epoch so a
// stage can drop traffic routed under a plan it has left.
package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/tabshard/tabshard/quant"
)

// ProtocolVersion is the version this package speaks. Hello's first fields
// (kind, version, digest) keep their layout in every version, so a peer can
// always be told why it is refused.
const ProtocolVersion uint16 = 1

// Kind identifies a message type on the wire.
type Kind uint8

// Message kinds. Values are part of the protocol; never renumber.
const (
	KindHello Kind = 1
	KindOpen  Kind = 2
	KindClose Kind = 3
	KindBatch Kind = 4
	KindToken Kind = 5
	KindError Kind = 6
	KindPing  Kind = 7
	KindPong  Kind = 8
)

func (k Kind) String() string {
	switch k {
	case KindHello:
		return "Hello"
	case KindOpen:
		return "Open"
	case KindClose:
		return "Close"
	case KindBatch:
		return "Batch"
	case KindToken:
		return "Token"
	case KindError:
		return "Error"
	case KindPing:
		return "Ping"
	case KindPong:
		return "Pong"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits bound what a peer may send. Decoding checks every length, index and
// count against them; encoding checks the same, so we never send what a peer
// with the same limits would refuse.
type Limits struct {
	MaxMessageBytes int // one whole (reassembled) message
	MaxRows         int // rows in one Batch
	MaxWidth        int // hidden vector width (model dim)
	MaxSessions     int // distinct sessions in one Batch
	MaxContext      int // positions, and tokens of history in Open
	MaxVocab        int // token ids are < MaxVocab
	MaxLayers       int // layer indices in Hello
	MaxStops        int // stop sequences in one Open
	MaxStopTokens   int // tokens in one stop sequence
	MaxText         int // bytes of free text (Error)
}

// DefaultLimits fit a 70B-class model (dim 8192) with a 128k context and
// prefill chunks of up to 1024 rows of f16 activations.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageBytes: 32 << 20,
		MaxRows:         1024,
		MaxWidth:        16384,
		MaxSessions:     256,
		MaxContext:      1 << 17,
		MaxVocab:        1 << 20,
		MaxLayers:       1024,
		MaxStops:        16,
		MaxStopTokens:   64,
		MaxText:         1024,
	}
}

// Message is one of *Hello, *Open, *Close, *Batch, *Token, *Error, *Ping, *Pong.
type Message interface {
	Kind() Kind
	// validate checks the message against lim (shared by encode and decode).
	validate(lim *Limits) error
	appendBody(b []byte) []byte
}

// Role says what a peer is in the pipeline.
type Role uint8

// Roles.
const (
	RoleClient Role = 1 // sends Open/Batch(tokens) to stage 0, receives Tokens
	RoleStage  Role = 2 // holds layers [First, End) of the model
)

// MaxNodeID is the longest node id, in bytes (matches signaling's ids).
const MaxNodeID = 64

// Hello opens every link, in both directions.
type Hello struct {
	Version uint16   // ProtocolVersion of the sender
	Digest  [32]byte // sha256 identifying the model (its manifest)
	Role    Role
	NodeID  string // the sender's id as the signaling server knows it
	Plan    uint64 // plan epoch the sender is serving
	// Stage range [First, End) of Layers; zero for clients. The first stage
	// also holds the embeddings, the stage with End == Layers the head.
	First, End, Layers uint32
}

// Kind implements Message.
func (*Hello) Kind() Kind { return KindHello }

func (m *Hello) validate(lim *Limits) error {
	if m.Version != ProtocolVersion {
		return &VersionError{Local: ProtocolVersion, Remote: m.Version}
	}
	if err := checkID(m.NodeID); err != nil {
		return err
	}
	switch m.Role {
	case RoleClient:
		if m.First != 0 || m.End != 0 || m.Layers != 0 {
			return fmt.Errorf("pipeline: client Hello with a layer range [%d,%d) of %d", m.First, m.End, m.Layers)
		}
	case RoleStage:
		if m.Layers == 0 || int64(m.Layers) > int64(lim.MaxLayers) {
			return fmt.Errorf("pipeline: Hello model of %d layers (limit %d)", m.Layers, lim.MaxLayers)
		}
		if m.First >= m.End || m.End > m.Layers {
			return fmt.Errorf("pipeline: Hello stage range [%d,%d) invalid for %d layers", m.First, m.End, m.Layers)
		}
	default:
		return fmt.Errorf("pipeline: Hello with unknown role %d", m.Role)
	}
	return nil
}

func (m *Hello) appendBody(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, m.Version)
	b = append(b, m.Digest[:]...)
	b = append(b, byte(m.Role))
	b = append(b, byte(len(m.NodeID)))
	b = append(b, m.NodeID...)
	b = binary.LittleEndian.AppendUint64(b, m.Plan)
	b = binary.LittleEndian.AppendUint32(b, m.First)
	b = binary.LittleEndian.AppendUint32(b, m.End)
	return binary.LittleEndian.AppendUint32(b, m.Layers)
}

// VersionError is returned for a Hello of another protocol version.
type VersionError struct{ Local, Remote uint16 }

func (e *VersionError) Error() string {
	return fmt.Sprintf("pipeline: peer speaks protocol version %d, we speak %d", e.Remote, e.Local)
}

// CheckHello decides whether a link may proceed: same protocol version and
// same model digest. The error says which one differs.
func CheckHello(local, remote *Hello) error {
	if local.Version != remote.Version {
		return &VersionError{Local: local.Version, Remote: remote.Version}
	}
	if local.Digest != remote.Digest {
		return fmt.Errorf("pipeline: peer %q serves model %x…, we serve %x…", remote.NodeID, remote.Digest[:6], local.Digest[:6])
	}
	return nil
}

// Sampling configures the last stage's sampler for one session. Sampling is
// deterministic given Seed and the position being sampled, so a replay after a
// re-plan draws the same tokens.
type Sampling struct {
	Temperature   float32 // 0 means greedy
	TopK          uint32  // 0 means off
	TopP          float32 // in (0,1]; 1 means off
	MinP          float32 // in [0,1); 0 means off
	RepeatPenalty float32 // > 0; 1 means off
	RepeatLastN   uint32  // tokens of history the penalty looks at
	Seed          uint64
	MaxTokens     uint32     // tokens to generate in all (replays count what was generated); 0 means up to the context
	Stop          [][]uint32 // generation ends after any of these token sequences
	IgnoreEOS     bool       // keep generating past the end-of-sequence token
}

// Open starts a session (or restarts it at a larger Epoch: a stage holding an
// older epoch of the session drops that state first). It travels from the
// client through every stage.
type Open struct {
	Session  uint64
	Epoch    uint32
	Sampling Sampling
	// History is the session's tokens so far (prompt, then any generated
	// before a replay); the last Generated of them were generated, so the
	// sampler's penalty window, stop sequences and MaxTokens carry on.
	History   []uint32
	Generated uint32
}

// Kind implements Message.
func (*Open) Kind() Kind { return KindOpen }

const openFlagIgnoreEOS = 1

func (m *Open) validate(lim *Limits) error {
	s := &m.Sampling
	if !finite(s.Temperature) || s.Temperature < 0 {
		return fmt.Errorf("pipeline: Open temperature %v is not a finite value ≥ 0", s.Temperature)
	}
	if int64(s.TopK) > int64(lim.MaxVocab) {
		return fmt.Errorf("pipeline: Open top-k %d above vocabulary limit %d", s.TopK, lim.MaxVocab)
	}
	if !finite(s.TopP) || s.TopP <= 0 || s.TopP > 1 {
		return fmt.Errorf("pipeline: Open top-p %v not in (0,1]", s.TopP)
	}
	if !finite(s.MinP) || s.MinP < 0 || s.MinP >= 1 {
		return fmt.Errorf("pipeline: Open min-p %v not in [0,1)", s.MinP)
	}
	if !finite(s.RepeatPenalty) || s.RepeatPenalty <= 0 {
		return fmt.Errorf("pipeline: Open repeat penalty %v is not a finite value > 0", s.RepeatPenalty)
	}
	if int64(s.RepeatLastN) > int64(lim.MaxContext) || int64(s.MaxTokens) > int64(lim.MaxContext) {
		return fmt.Errorf("pipeline: Open repeat-last-n %d or max tokens %d above context limit %d", s.RepeatLastN, s.MaxTokens, lim.MaxContext)
	}
	if len(s.Stop) > lim.MaxStops || len(s.Stop) > 255 {
		return fmt.Errorf("pipeline: Open has %d stop sequences (limit %d)", len(s.Stop), lim.MaxStops)
	}
	for i, seq := range s.Stop {
		if len(seq) == 0 || len(seq) > lim.MaxStopTokens || len(seq) > 255 {
			return fmt.Errorf("pipeline: Open stop sequence %d has %d tokens (want 1..%d)", i, len(seq), min(lim.MaxStopTokens, 255))
		}
		if err := checkTokens(seq, lim); err != nil {
			return err
		}
	}
	if len(m.History) > lim.MaxContext {
		return fmt.Errorf("pipeline: Open history of %d tokens (context limit %d)", len(m.History), lim.MaxContext)
	}
	if int64(m.Generated) > int64(len(m.History)) {
		return fmt.Errorf("pipeline: Open says %d tokens were generated of a %d-token history", m.Generated, len(m.History))
	}
	return checkTokens(m.History, lim)
}

func (m *Open) appendBody(b []byte) []byte {
	s := &m.Sampling
	b = binary.LittleEndian.AppendUint64(b, m.Session)
	b = binary.LittleEndian.AppendUint32(b, m.Epoch)
	b = appendF32(b, s.Temperature)
	b = binary.LittleEndian.AppendUint32(b, s.TopK)
	b = appendF32(b, s.TopP)
	b = appendF32(b, s.MinP)
	b = appendF32(b, s.RepeatPenalty)
	b = binary.LittleEndian.AppendUint32(b, s.RepeatLastN)
	b = binary.LittleEndian.AppendUint64(b, s.Seed)
	b = binary.LittleEndian.AppendUint32(b, s.MaxTokens)
	var flags byte
	if s.IgnoreEOS {
		flags |= openFlagIgnoreEOS
	}
	b = append(b, flags)
	b = append(b, byte(len(s.Stop)))
	for _, seq := range s.Stop {
		b = append(b, byte(len(seq)))
		b = appendU32s(b, seq)
	}
	b = binary.LittleEndian.AppendUint32(b, m.Generated)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.History)))
	return appendU32s(b, m.History)
}

// CloseReason says why a session ends.
type CloseReason uint8

// Close reasons.
const (
	CloseDone      CloseReason = 1 // the client has all it wanted; free the state
	CloseCancelled CloseReason = 2 // the user stopped it; tokens in flight are dropped
	CloseEvicted   CloseReason = 3 // a stage could not keep it (out of KV memory, shutdown)
)

// Close ends a session on every stage it passes (same route as Open).
type Close struct {
	Session uint64
	Epoch   uint32
	Reason  CloseReason
}

// Kind implements Message.
func (*Close) Kind() Kind { return KindClose }

func (m *Close) validate(*Limits) error {
	if m.Reason < CloseDone || m.Reason > CloseEvicted {
		return fmt.Errorf("pipeline: Close with unknown reason %d", m.Reason)
	}
	return nil
}

func (m *Close) appendBody(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, m.Session)
	b = binary.LittleEndian.AppendUint32(b, m.Epoch)
	return append(b, byte(m.Reason))
}

// Encoding says how a Batch's rows travel.
type Encoding uint8

// Encodings.
const (
	EncTokens Encoding = 1 // a token id per row (into stage 0)
	EncF16    Encoding = 2 // Width f16 values per row
	EncInt8   Encoding = 3 // an f32 scale then Width int8 values per row (value = q·scale)
)

// RowFlags mark rows.
type RowFlags uint8

// Row flags.
const (
	// RowSample: the last stage computes logits for this row and samples
	// (the last position of a prefill, and every decode position).
	RowSample     RowFlags = 1
	rowFlagsKnown          = RowSample
)

// Row is one position of one session.
type Row struct {
	Session uint64
	Epoch   uint32
	Pos     uint32   // position in the session's sequence
	Token   uint32   // the token id (EncTokens batches only)
	Flags   RowFlags //
}

// Batch carries rows for one hop. Rows of one session appear in strictly
// increasing position order (they go into its KV cache in that order).
type Batch struct {
	Plan     uint64 // plan epoch the sender routed this under
	ID       uint64 // sender's sequence number, for per-hop timing and traces
	Encoding Encoding
	Width    int // hidden width; 0 for EncTokens
	Rows     []Row
	// Hidden holds len(Rows)×Width activations, row-major (nil for
	// EncTokens). Encoding to f16 or int8 rounds them; values that are NaN,
	// infinite or beyond f16's range are refused.
	Hidden []float32
}

// Kind implements Message.
func (*Batch) Kind() Kind { return KindBatch }

// rowHeaderBytes is a row's fixed part: session, epoch, position, flags.
const rowHeaderBytes = 8 + 4 + 4 + 1

func (m *Batch) validate(lim *Limits) error {
	n := len(m.Rows)
	if n == 0 || n > lim.MaxRows {
		return fmt.Errorf("pipeline: Batch of %d rows (want 1..%d)", n, lim.MaxRows)
	}
	switch m.Encoding {
	case EncTokens:
		if m.Width != 0 || m.Hidden != nil {
			return errors.New("pipeline: token Batch carries hidden values")
		}
	case EncF16, EncInt8:
		if m.Width <= 0 || m.Width > lim.MaxWidth {
			return fmt.Errorf("pipeline: Batch width %d (want 1..%d)", m.Width, lim.MaxWidth)
		}
		if len(m.Hidden) != n*m.Width {
			return fmt.Errorf("pipeline: Batch has %d hidden values for %d rows of width %d", len(m.Hidden), n, m.Width)
		}
		for i, v := range m.Hidden {
			if !finite(v) || (m.Encoding == EncF16 && math.Abs(float64(v)) > maxF16) {
				return fmt.Errorf("pipeline: Batch row %d activation %d is %v (NaN, infinite or beyond f16)", i/m.Width, i%m.Width, v)
			}
		}
	default:
		return fmt.Errorf("pipeline: Batch with unknown encoding %d", m.Encoding)
	}
	// Positions per session strictly increase; the map is bounded by MaxRows.
	last := make(map[uint64]uint32, min(n, lim.MaxSessions))
	for i := range m.Rows {
		r := &m.Rows[i]
		if r.Flags&^rowFlagsKnown != 0 {
			return fmt.Errorf("pipeline: Batch row %d has unknown flags %#x", i, r.Flags)
		}
		if int64(r.Pos) >= int64(lim.MaxContext) {
			return fmt.Errorf("pipeline: Batch row %d position %d beyond context limit %d", i, r.Pos, lim.MaxContext)
		}
		if m.Encoding == EncTokens {
			if int64(r.Token) >= int64(lim.MaxVocab) {
				return fmt.Errorf("pipeline: Batch row %d token %d beyond vocabulary limit %d", i, r.Token, lim.MaxVocab)
			}
		} else if r.Token != 0 {
			return fmt.Errorf("pipeline: Batch row %d of hidden values also names token %d", i, r.Token)
		}
		if p, ok := last[r.Session]; ok {
			if r.Pos <= p {
				return fmt.Errorf("pipeline: Batch row %d: session %d position %d after %d", i, r.Session, r.Pos, p)
			}
		} else if len(last) == lim.MaxSessions {
			return fmt.Errorf("pipeline: Batch spans more than %d sessions", lim.MaxSessions)
		}
		last[r.Session] = r.Pos
	}
	return nil
}

func (m *Batch) appendBody(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, m.Plan)
	b = binary.LittleEndian.AppendUint64(b, m.ID)
	b = append(b, byte(m.Encoding))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.Width))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Rows)))
	for i := range m.Rows {
		r := &m.Rows[i]
		b = binary.LittleEndian.AppendUint64(b, r.Session)
		b = binary.LittleEndian.AppendUint32(b, r.Epoch)
		b = binary.LittleEndian.AppendUint32(b, r.Pos)
		b = append(b, byte(r.Flags))
		if m.Encoding == EncTokens {
			b = binary.LittleEndian.AppendUint32(b, r.Token)
		}
	}
	switch m.Encoding {
	case EncF16:
		for _, v := range m.Hidden {
			b = binary.LittleEndian.AppendUint16(b, quant.F32ToF16(v))
		}
	case EncInt8:
		for r := range m.Rows {
			b = appendInt8Row(b, m.Hidden[r*m.Width:(r+1)*m.Width])
		}
	}
	return b
}

// appendInt8Row quantizes one row symmetrically: scale = max|x|/127, q =
// round(x/scale).
func appendInt8Row(b []byte, row []float32) []byte {
	var amax float32
	for _, v := range row {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	scale := amax / 127
	b = appendF32(b, scale)
	inv := float32(0)
	if scale > 0 {
		inv = 1 / scale
	}
	for _, v := range row {
		q := math.Round(float64(v * inv))
		b = append(b, byte(int8(max(-127, min(127, q)))))
	}
	return b
}

// StopReason says why the token ends its session's generation, if it does.
type StopReason uint8

// Stop reasons.
const (
	StopNone      StopReason = 0 // generation goes on
	StopEOS       StopReason = 1 // the model produced end-of-sequence
	StopMaxTokens StopReason = 2 // Sampling.MaxTokens reached, or the context is full
	StopSequence  StopReason = 3 // a stop sequence completed with this token
)

// Token is a sampled token, sent by the last stage to the client and to stage
// 0. Pos is the position the token occupies in the sequence.
type Token struct {
	Session uint64
	Epoch   uint32
	Pos     uint32
	ID      uint32
	Logprob float32 // natural log of its probability under the sampler
	Stop    StopReason
}

// Kind implements Message.
func (*Token) Kind() Kind { return KindToken }

func (m *Token) validate(lim *Limits) error {
	if int64(m.Pos) >= int64(lim.MaxContext) {
		return fmt.Errorf("pipeline: Token position %d beyond context limit %d", m.Pos, lim.MaxContext)
	}
	if int64(m.ID) >= int64(lim.MaxVocab) {
		return fmt.Errorf("pipeline: Token id %d beyond vocabulary limit %d", m.ID, lim.MaxVocab)
	}
	if !finite(m.Logprob) {
		return fmt.Errorf("pipeline: Token logprob %v", m.Logprob)
	}
	if m.Stop > StopSequence {
		return fmt.Errorf("pipeline: Token with unknown stop reason %d", m.Stop)
	}
	return nil
}

func (m *Token) appendBody(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, m.Session)
	b = binary.LittleEndian.AppendUint32(b, m.Epoch)
	b = binary.LittleEndian.AppendUint32(b, m.Pos)
	b = binary.LittleEndian.AppendUint32(b, m.ID)
	b = appendF32(b, m.Logprob)
	return append(b, byte(m.Stop))
}

// ErrorCode classifies an Error message.
type ErrorCode uint16

// Error codes.
const (
	ErrCodeProtocol       ErrorCode = 1 // malformed or out-of-limit message; the link is dropped
	ErrCodeVersion        ErrorCode = 2 // Hello with another protocol version
	ErrCodeDigest         ErrorCode = 3 // Hello for another model
	ErrCodeUnknownSession ErrorCode = 4 // rows or Close for a session this stage does not hold
	ErrCodeStale          ErrorCode = 5 // traffic for an older plan or session epoch
	ErrCodeOverloaded     ErrorCode = 6 // no KV memory or queue space for the session
	ErrCodeInternal       ErrorCode = 7 // the stage failed computing
	errCodeLast                     = ErrCodeInternal
)

// Error reports a failure to the peer. Session 0 concerns the whole link.
type Error struct {
	Code    ErrorCode
	Session uint64
	Text    string
}

// Kind implements Message.
func (*Error) Kind() Kind { return KindError }

func (m *Error) validate(lim *Limits) error {
	if m.Code == 0 || m.Code > errCodeLast {
		return fmt.Errorf("pipeline: Error with unknown code %d", m.Code)
	}
	if len(m.Text) > lim.MaxText || len(m.Text) > math.MaxUint16 || !utf8.ValidString(m.Text) {
		return fmt.Errorf("pipeline: Error text of %d bytes is too long or not UTF-8 (limit %d)", len(m.Text), lim.MaxText)
	}
	return nil
}

func (m *Error) appendBody(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(m.Code))
	b = binary.LittleEndian.AppendUint64(b, m.Session)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Text)))
	return append(b, m.Text...)
}

// Ping asks the peer to echo a Pong, for link latency and liveness. Sent is
// the sender's own clock reading; only the sender interprets it.
type Ping struct {
	Nonce uint64
	Sent  int64
}

// Kind implements Message.
func (*Ping) Kind() Kind                   { return KindPing }
func (*Ping) validate(*Limits) error       { return nil }
func (m *Ping) appendBody(b []byte) []byte { return appendPing(b, m.Nonce, m.Sent) }

// Pong echoes a Ping's fields.
type Pong struct {
	Nonce uint64
	Sent  int64
}

// Kind implements Message.
func (*Pong) Kind() Kind                   { return KindPong }
func (*Pong) validate(*Limits) error       { return nil }
func (m *Pong) appendBody(b []byte) []byte { return appendPing(b, m.Nonce, m.Sent) }

func appendPing(b []byte, nonce uint64, sent int64) []byte {
	b = binary.LittleEndian.AppendUint64(b, nonce)
	return binary.LittleEndian.AppendUint64(b, uint64(sent))
}

// AppendMessage appends m's encoding to dst after checking it against lim.
func AppendMessage(dst []byte, m Message, lim Limits) ([]byte, error) {
	if m == nil {
		return dst, errors.New("pipeline: nil message")
	}
	if err := m.validate(&lim); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, byte(m.Kind()))
	dst = m.appendBody(dst)
	if n := len(dst) - start; n > lim.MaxMessageBytes {
		return dst[:start], fmt.Errorf("pipeline: %v message of %d bytes exceeds the %d-byte limit", m.Kind(), n, lim.MaxMessageBytes)
	}
	return dst, nil
}

// Encode returns m's encoding.
func Encode(m Message, lim Limits) ([]byte, error) { return AppendMessage(nil, m, lim) }

// Decode parses one whole message. It never panics, allocates at most a small
// multiple of len(b), and returns an error for anything out of the protocol or
// beyond lim: unknown kinds, bad lengths, trailing bytes, NaN or infinite
// activations. A Hello of another version decodes to a *Hello carrying only
// Version, with a *VersionError, so the caller can say why it refuses.
func Decode(b []byte, lim Limits) (Message, error) {
	if len(b) > lim.MaxMessageBytes {
		return nil, fmt.Errorf("pipeline: message of %d bytes exceeds the %d-byte limit", len(b), lim.MaxMessageBytes)
	}
	if len(b) == 0 {
		return nil, errors.New("pipeline: empty message")
	}
	r := reader{b: b[1:]}
	var m Message
	switch k := Kind(b[0]); k {
	case KindHello:
		h := &Hello{Version: r.u16()}
		if r.err == nil && h.Version != ProtocolVersion {
			return h, &VersionError{Local: ProtocolVersion, Remote: h.Version}
		}
		r.bytes(h.Digest[:])
		h.Role = Role(r.u8())
		h.NodeID = r.str(int(r.u8()))
		h.Plan = r.u64()
		h.First, h.End, h.Layers = r.u32(), r.u32(), r.u32()
		m = h
	case KindOpen:
		m = decodeOpen(&r, &lim)
	case KindClose:
		m = &Close{Session: r.u64(), Epoch: r.u32(), Reason: CloseReason(r.u8())}
	case KindBatch:
		m = decodeBatch(&r, &lim)
	case KindToken:
		m = &Token{Session: r.u64(), Epoch: r.u32(), Pos: r.u32(), ID: r.u32(), Logprob: r.f32(), Stop: StopReason(r.u8())}
	case KindError:
		e := &Error{Code: ErrorCode(r.u16()), Session: r.u64()}
		e.Text = r.str(int(r.u16()))
		m = e
	case KindPing:
		m = &Ping{Nonce: r.u64(), Sent: int64(r.u64())}
	case KindPong:
		m = &Pong{Nonce: r.u64(), Sent: int64(r.u64())}
	default:
		return nil, fmt.Errorf("pipeline: unknown message kind %d", b[0])
	}
	if r.err != nil {
		return nil, fmt.Errorf("pipeline: %v message: %w", Kind(b[0]), r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("pipeline: %v message has %d trailing bytes", Kind(b[0]), len(r.b))
	}
	if err := m.validate(&lim); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeOpen(r *reader, lim *Limits) *Open {
	m := &Open{Session: r.u64(), Epoch: r.u32()}
	s := &m.Sampling
	s.Temperature = r.f32()
	s.TopK = r.u32()
	s.TopP, s.MinP, s.RepeatPenalty = r.f32(), r.f32(), r.f32()
	s.RepeatLastN = r.u32()
	s.Seed = r.u64()
	s.MaxTokens = r.u32()
	flags := r.u8()
	if flags&^openFlagIgnoreEOS != 0 {
		r.fail(fmt.Errorf("unknown flags %#x", flags))
	}
	s.IgnoreEOS = flags&openFlagIgnoreEOS != 0
	nstop := int(r.u8())
	if nstop > lim.MaxStops {
		r.fail(fmt.Errorf("%d stop sequences (limit %d)", nstop, lim.MaxStops))
	}
	for i := 0; i < nstop && r.err == nil; i++ {
		s.Stop = append(s.Stop, r.u32s(int(r.u8()), lim.MaxStopTokens))
	}
	m.Generated = r.u32()
	m.History = r.u32s(int(r.u32()), lim.MaxContext)
	return m
}

func decodeBatch(r *reader, lim *Limits) *Batch {
	m := &Batch{Plan: r.u64(), ID: r.u64(), Encoding: Encoding(r.u8())}
	width, n := r.u32(), r.u32()
	if r.err != nil {
		return m
	}
	rowBytes := rowHeaderBytes
	switch m.Encoding {
	case EncTokens:
		if width != 0 {
			r.fail(fmt.Errorf("token batch of width %d", width))
			return m
		}
		rowBytes += 4
	case EncF16, EncInt8:
		if width == 0 || int64(width) > int64(lim.MaxWidth) {
			r.fail(fmt.Errorf("width %d (want 1..%d)", width, lim.MaxWidth))
			return m
		}
		rowBytes += int(width) * 2
		if m.Encoding == EncInt8 {
			rowBytes = rowHeaderBytes + 4 + int(width)
		}
	default:
		r.fail(fmt.Errorf("unknown encoding %d", m.Encoding))
		return m
	}
	// Count and size are checked against what is left before any allocation.
	if n == 0 || int64(n) > int64(lim.MaxRows) || int64(n)*int64(rowBytes) != int64(len(r.b)) {
		r.fail(fmt.Errorf("%d rows of %d bytes do not match %d bytes left (rows 1..%d)", n, rowBytes, len(r.b), lim.MaxRows))
		return m
	}
	m.Width = int(width)
	m.Rows = make([]Row, n)
	for i := range m.Rows {
		row := &m.Rows[i]
		row.Session, row.Epoch, row.Pos, row.Flags = r.u64(), r.u32(), r.u32(), RowFlags(r.u8())
		if m.Encoding == EncTokens {
			row.Token = r.u32()
		}
	}
	if m.Encoding == EncTokens {
		return m
	}
	m.Hidden = make([]float32, int(n)*m.Width)
	for i := 0; i < int(n); i++ {
		out := m.Hidden[i*m.Width : (i+1)*m.Width]
		if m.Encoding == EncF16 {
			for j := range out {
				out[j] = quant.F16ToF32(r.u16())
			}
			continue
		}
		scale := r.f32()
		if !finite(scale) || scale < 0 || !finite(scale*127) {
			r.fail(fmt.Errorf("row %d int8 scale %v", i, scale))
			return m
		}
		for j := range out {
			out[j] = float32(int8(r.u8())) * scale
		}
	}
	return m
}

// reader consumes little-endian fields; after the first shortfall it returns
// zeros and keeps the error.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(errShort)
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *reader) f32() float32 { return math.Float32frombits(r.u32()) }

func (r *reader) bytes(dst []byte) {
	if p := r.take(len(dst)); p != nil {
		copy(dst, p)
	}
}

func (r *reader) str(n int) string { return string(r.take(n)) }

// u32s reads n values, n ≤ limit, allocating only once the bytes are there.
func (r *reader) u32s(n, limit int) []uint32 {
	if r.err != nil {
		return nil
	}
	if n > limit {
		r.fail(fmt.Errorf("%d values (limit %d)", n, limit))
		return nil
	}
	p := r.take(4 * n)
	if p == nil {
		return nil
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(p[4*i:])
	}
	return out
}

func appendF32(b []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
}

func appendU32s(b []byte, v []uint32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// maxF16 is the largest finite half-precision value.
const maxF16 = 65504

func checkTokens(ids []uint32, lim *Limits) error {
	for _, id := range ids {
		if int64(id) >= int64(lim.MaxVocab) {
			return fmt.Errorf("pipeline: token id %d beyond vocabulary limit %d", id, lim.MaxVocab)
		}
	}
	return nil
}

// checkID accepts 1..MaxNodeID bytes of printable ASCII, like signaling ids.
func checkID(id string) error {
	if len(id) == 0 || len(id) > MaxNodeID {
		return fmt.Errorf("pipeline: node id of %d bytes (want 1..%d)", len(id), MaxNodeID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("pipeline: node id %q has a byte outside printable ASCII", id)
		}
	}
	return nil
}
