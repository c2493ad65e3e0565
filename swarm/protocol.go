// Package swarm is the signaling layer of tabshard: the JSON protocol spoken
// over WebSocket between the signaling server and its peers (nodes and
// clients), the server itself as an http.Handler, and the Go client used by
// native nodes and by the wasm node in a tab.
//
// Wire format: every message is one WebSocket text message holding one JSON
// object
//
//	{"v":1,"type":"<type>","body":{...}}
//
// Decoding is strict: the version must match, the type must be known, unknown
// fields are refused at both levels, trailing data is refused and every field
// is range-checked before the message reaches any logic. Encoding validates
// too, so this process never sends what a peer would refuse. (encoding/json
// still matches keys case-insensitively and lets a repeated key win; the
// fuzz target checks that whatever is accepted re-encodes to one canonical
// form.)
//
// A connection's life:
//
//	peer → join{swarm, token, role, capabilities}
//	     ← welcome{peer id, heartbeat period and timeout, size limit}
//	     ← assign{epoch, manifest, pipeline, stage}      (from the Planner, any time)
//	peer ↔ offer / answer / candidate {to|from, link}   (relayed within the swarm)
//	peer → ready{epoch}, status{...}                     (progress, health)
//	peer ↔ heartbeat{seq}                                (the server echoes each)
//	peer → leave{reason}
//	     ← error{code, message}                          (then, usually, close)
//
// The server (Server, natively only) binds the id it assigns to the
// connection and fills From on every relayed message itself; see
// Server.ServeHTTP for the admission checks. The client (Client) builds for
// native nodes and for GOOS=js.
package swarm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Version is the signaling protocol version; a peer speaking another one is
// refused at its first message.
const Version = 1

// Protocol limits. The server may be configured with a smaller message size,
// never a larger one.
const (
	MaxMessageBytes  = 64 << 10 // one encoded message
	MaxIDLen         = 64       // peer ids, link ids, swarm names
	MaxTokenLen      = 256      // join token
	MaxSDPLen        = 48 << 10 // session description
	MaxCandidateLen  = 1024     // one ICE candidate line
	MaxTextLen       = 1024     // free text: error messages, adapter strings, reasons
	MaxStages        = 1024     // stages in one pipeline
	MaxLayers        = 1 << 16  // transformer layers in one model
	maxBytesValue    = 1 << 50  // 1 PiB: above any real memory or buffer size
	maxThroughput    = 1e9      // GFLOP/s or GB/s: far above any real device
	maxLatencyMillis = 3600e3
)

// Type discriminates messages.
type Type string

// Message types. "→server" and "→peer" say which way each one travels.
const (
	TypeJoin      Type = "join"      // →server: first message of a connection
	TypeWelcome   Type = "welcome"   // →peer: join accepted, peer id assigned
	TypeAssign    Type = "assign"    // →peer: the plan and the receiver's place in it
	TypeOffer     Type = "offer"     // both: SDP offer relayed to one peer of the swarm
	TypeAnswer    Type = "answer"    // both: SDP answer relayed to one peer of the swarm
	TypeCandidate Type = "candidate" // both: trickled ICE candidate relayed to one peer
	TypeReady     Type = "ready"     // →server: the assignment of an epoch is loaded
	TypeStatus    Type = "status"    // →server: progress and health of a peer
	TypeHeartbeat Type = "heartbeat" // both: liveness; the server echoes each one
	TypeLeave     Type = "leave"     // →server: orderly goodbye
	TypeError     Type = "error"     // →peer: a refusal; the server usually closes after it
)

// Body is the payload of one message; each message type has its own struct.
type Body interface {
	// MessageType is the type tag this body travels under.
	MessageType() Type
	// Validate range-checks every field.
	Validate() error
}

// Role says what a peer does in its swarm.
type Role string

// Roles.
const (
	RoleNode   Role = "node"   // holds layers and computes
	RoleClient Role = "client" // submits prompts, receives tokens
)

// Join is the first message on a connection.
type Join struct {
	Swarm        string        `json:"swarm"`
	Token        string        `json:"token"`
	Role         Role          `json:"role"`
	Capabilities *Capabilities `json:"capabilities,omitempty"` // required for nodes
}

// Capabilities are measured by the node, not guessed: the planner balances
// layers by them.
type Capabilities struct {
	Backend string      `json:"backend"` // "webgpu", "vulkan", "cpu", ...
	Adapter AdapterInfo `json:"adapter"`
	// MemoryBudgetBytes is what the node offers for weights plus KV cache.
	MemoryBudgetBytes uint64 `json:"memory_budget_bytes"`
	// MatmulGFLOPS is measured throughput of a batched matmul (prefill).
	MatmulGFLOPS float64 `json:"matmul_gflops"`
	// MatvecGBps is measured weight bandwidth of a matvec (decode).
	MatvecGBps float64 `json:"matvec_gbps"`
	// MaxBufferSize and MaxBindingSize are the device limits actually granted.
	MaxBufferSize  uint64 `json:"max_buffer_size"`
	MaxBindingSize uint64 `json:"max_binding_size"`
	CPUCores       int    `json:"cpu_cores"`
	// LatencyMillis is the measured round trip to the signaling server.
	LatencyMillis float64 `json:"latency_ms"`
}

// AdapterInfo describes the GPU adapter (empty for CPU nodes).
type AdapterInfo struct {
	Vendor       string `json:"vendor,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	Device       string `json:"device,omitempty"`
	Description  string `json:"description,omitempty"`
	Fallback     bool   `json:"fallback,omitempty"` // a software adapter (SwiftShader, lavapipe)
}

// Welcome accepts a join and tells the peer its id and the server's limits.
type Welcome struct {
	Peer                   string `json:"peer"`
	Swarm                  string `json:"swarm"`
	HeartbeatMillis        int64  `json:"heartbeat_ms"`         // send a heartbeat this often
	HeartbeatTimeoutMillis int64  `json:"heartbeat_timeout_ms"` // silence after which the server declares the peer lost
	MaxMessageBytes        int64  `json:"max_message_bytes"`
}

// LayerRange is the half-open range [Start, End) of transformer layers.
type LayerRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Len is the number of layers in the range.
func (r LayerRange) Len() int { return r.End - r.Start }

// ManifestRef names the model manifest a node loads its blobs from.
type ManifestRef struct {
	URL    string `json:"url"`    // absolute, or a path on the signaling server
	SHA256 string `json:"sha256"` // of the manifest bytes, lowercase hex
}

// PipelineStage is one stage of a plan: who holds which layers.
type PipelineStage struct {
	Peer   string     `json:"peer"`
	Layers LayerRange `json:"layers"`
}

// Assign is the plan of one epoch and the receiver's place in it. Stage 0
// also holds the embeddings; the last stage the final norm, head and sampler.
// The pipeline is a ring: the last stage sends each token back to stage 0.
type Assign struct {
	Epoch       uint64          `json:"epoch"` // increases with every re-plan
	Manifest    ManifestRef     `json:"manifest"`
	TotalLayers int             `json:"total_layers"`
	Pipeline    []PipelineStage `json:"pipeline"`
	// Stage is the receiver's index in Pipeline, or -1 when it holds no stage
	// (a client, or a node kept on standby).
	Stage int `json:"stage"`
}

// Layers is the receiver's layer range (empty when it holds no stage).
func (a *Assign) Layers() LayerRange {
	if a.Stage < 0 || a.Stage >= len(a.Pipeline) {
		return LayerRange{}
	}
	return a.Pipeline[a.Stage].Layers
}

// Prev is the peer the receiver gets activations from: the previous stage,
// or for stage 0 the last stage (which sends it sampled tokens).
func (a *Assign) Prev() string {
	if a.Stage < 0 || a.Stage >= len(a.Pipeline) {
		return ""
	}
	return a.Pipeline[(a.Stage+len(a.Pipeline)-1)%len(a.Pipeline)].Peer
}

// Next is the peer the receiver sends to: the next stage, or for the last
// stage stage 0.
func (a *Assign) Next() string {
	if a.Stage < 0 || a.Stage >= len(a.Pipeline) {
		return ""
	}
	return a.Pipeline[(a.Stage+1)%len(a.Pipeline)].Peer
}

// Route addresses a relayed message. A sender fills To; the server fills
// From with the sender's bound id (a sender that fills From is refused).
// Link names one WebRTC connection so that several between the same two
// peers (a reconnect, a re-plan) never mix their descriptions.
type Route struct {
	To   string `json:"to,omitempty"`
	From string `json:"from,omitempty"`
	Link string `json:"link"`
}

// Routing returns the route of a relayed message.
func (r *Route) Routing() *Route { return r }

// Relayed is a message the server forwards to one peer of the same swarm.
type Relayed interface {
	Body
	Routing() *Route
}

// Offer is an SDP offer.
type Offer struct {
	Route
	SDP string `json:"sdp"`
}

// Answer is an SDP answer.
type Answer struct {
	Route
	SDP string `json:"sdp"`
}

// Candidate is one trickled ICE candidate (the "candidate:..." line, as
// RTCIceCandidate.candidate gives it).
type Candidate struct {
	Route
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdp_mid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdp_mline_index,omitempty"`
}

// Ready says the sender has loaded its assignment of Epoch and serves it.
type Ready struct {
	Epoch uint64 `json:"epoch"`
}

// PeerState is what a peer is doing, as it reports it.
type PeerState string

// Peer states.
const (
	StateIdle    PeerState = "idle"
	StateLoading PeerState = "loading"
	StateReady   PeerState = "ready"
	StateServing PeerState = "serving"
	StateFailed  PeerState = "failed"
)

// Status reports progress and health; sent when something changes, and at
// most a few times a second.
type Status struct {
	Epoch       uint64    `json:"epoch"`
	State       PeerState `json:"state"`
	LoadedBytes uint64    `json:"loaded_bytes,omitempty"`
	TotalBytes  uint64    `json:"total_bytes,omitempty"`
	HeapBytes   uint64    `json:"heap_bytes,omitempty"`
	TokensPerS  float64   `json:"tokens_per_s,omitempty"`
	Sessions    int       `json:"sessions,omitempty"`
	// Busy is the fraction of the last interval spent computing; HopP50Ms
	// and HopP99Ms the one-way latency to the next stage (half the
	// round trip of pings on the pipeline link).
	Busy     float64 `json:"busy,omitempty"`
	HopP50Ms float64 `json:"hop_p50_ms,omitempty"`
	HopP99Ms float64 `json:"hop_p99_ms,omitempty"`
	Message  string  `json:"message,omitempty"`
}

// Heartbeat proves liveness. The server echoes every heartbeat it receives,
// so the peer learns both that the server lives and the round-trip time.
type Heartbeat struct {
	Seq uint64 `json:"seq"`
}

// Leave is an orderly goodbye.
type Leave struct {
	Reason string `json:"reason,omitempty"`
}

// ErrorCode classifies a refusal.
type ErrorCode string

// Error codes.
const (
	CodeBadMessage  ErrorCode = "bad_message"  // undecodable or out of range
	CodeUnexpected  ErrorCode = "unexpected"   // valid message at the wrong time
	CodeJoinRefused ErrorCode = "join_refused" // unknown swarm or wrong token
	CodeSwarmFull   ErrorCode = "swarm_full"
	CodeRateLimited ErrorCode = "rate_limited"
	CodeSpoofing    ErrorCode = "spoofing"     // From set to another id
	CodeNoSuchPeer  ErrorCode = "no_such_peer" // relay target is not in the swarm
	CodeShutdown    ErrorCode = "shutdown"
	CodeInternal    ErrorCode = "internal"
)

// Error is a refusal sent by the server.
type Error struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message,omitempty"`
}

func (*Join) MessageType() Type      { return TypeJoin }
func (*Welcome) MessageType() Type   { return TypeWelcome }
func (*Assign) MessageType() Type    { return TypeAssign }
func (*Offer) MessageType() Type     { return TypeOffer }
func (*Answer) MessageType() Type    { return TypeAnswer }
func (*Candidate) MessageType() Type { return TypeCandidate }
func (*Ready) MessageType() Type     { return TypeReady }
func (*Status) MessageType() Type    { return TypeStatus }
func (*Heartbeat) MessageType() Type { return TypeHeartbeat }
func (*Leave) MessageType() Type     { return TypeLeave }
func (*Error) MessageType() Type     { return TypeError }

// newBody returns an empty body for a type, or nil for an unknown type.
func newBody(t Type) Body {
	switch t {
	case TypeJoin:
		return new(Join)
	case TypeWelcome:
		return new(Welcome)
	case TypeAssign:
		return new(Assign)
	case TypeOffer:
		return new(Offer)
	case TypeAnswer:
		return new(Answer)
	case TypeCandidate:
		return new(Candidate)
	case TypeReady:
		return new(Ready)
	case TypeStatus:
		return new(Status)
	case TypeHeartbeat:
		return new(Heartbeat)
	case TypeLeave:
		return new(Leave)
	case TypeError:
		return new(Error)
	}
	return nil
}

// envelope is the outer object of every message.
type envelope struct {
	V    int             `json:"v"`
	Type Type            `json:"type"`
	Body json.RawMessage `json:"body"`
}

// Encode validates a body and encodes it as one message.
func Encode(b Body) ([]byte, error) {
	if b == nil {
		return nil, errors.New("swarm: encode: nil body")
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("swarm: encode %s: %w", b.MessageType(), err)
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("swarm: encode %s: %w", b.MessageType(), err)
	}
	out, err := json.Marshal(envelope{V: Version, Type: b.MessageType(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("swarm: encode %s: %w", b.MessageType(), err)
	}
	if len(out) > MaxMessageBytes {
		return nil, fmt.Errorf("swarm: encode %s: %d bytes exceeds the %d-byte message limit", b.MessageType(), len(out), MaxMessageBytes)
	}
	return out, nil
}

// Decode parses and validates one message. The returned body is one of the
// pointer types of this file (*Join, *Offer, ...).
func Decode(data []byte) (Body, error) {
	if len(data) > MaxMessageBytes {
		return nil, fmt.Errorf("swarm: message of %d bytes exceeds the %d-byte limit", len(data), MaxMessageBytes)
	}
	var env envelope
	if err := decodeStrict(data, &env); err != nil {
		return nil, fmt.Errorf("swarm: bad envelope: %w", err)
	}
	if env.V != Version {
		return nil, fmt.Errorf("swarm: protocol version %d, want %d", env.V, Version)
	}
	b := newBody(env.Type)
	if b == nil {
		return nil, fmt.Errorf("swarm: unknown message type %q", truncate(string(env.Type), 32))
	}
	if len(env.Body) == 0 || env.Body[0] != '{' {
		return nil, fmt.Errorf("swarm: %s: body must be a JSON object", env.Type)
	}
	if err := decodeStrict(env.Body, b); err != nil {
		return nil, fmt.Errorf("swarm: %s: %w", env.Type, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("swarm: %s: %w", env.Type, err)
	}
	return b, nil
}

// decodeStrict decodes exactly one JSON object with no unknown fields and
// nothing after it.
func decodeStrict(data []byte, v any) error {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 || data[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// ---- validation ----

// ValidID reports whether s is a well-formed peer id, link id or swarm name:
// 1..MaxIDLen characters of [A-Za-z0-9._-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkID(field, s string) error {
	if !ValidID(s) {
		return fmt.Errorf("%s %q: want 1..%d characters of [A-Za-z0-9._-]", field, truncate(s, 80), MaxIDLen)
	}
	return nil
}

// checkText accepts printable text (no control characters except tab) of at
// most max bytes of valid UTF-8.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s: %d bytes exceeds %d", field, len(s), max)
	}
	for _, r := range s {
		if r == '\uFFFD' || (r < 0x20 && r != '\t') || r == 0x7f {
			return fmt.Errorf("%s: contains a control character or invalid UTF-8", field)
		}
	}
	return nil
}

// checkSDP accepts SDP-like text: printable ASCII lines separated by CRLF
// or LF.
func checkSDP(field, s string, max int) error {
	if len(s) == 0 {
		return fmt.Errorf("%s: empty", field)
	}
	if len(s) > max {
		return fmt.Errorf("%s: %d bytes exceeds %d", field, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\r' && c != '\n' && c != '\t' && (c < 0x20 || c > 0x7e) {
			return fmt.Errorf("%s: byte 0x%02x at offset %d is not printable ASCII", field, c, i)
		}
	}
	return nil
}

func checkFloat(field string, v, max float64) error {
	if math.IsNaN(v) || v < 0 || v > max {
		return fmt.Errorf("%s: %v out of range [0, %g]", field, v, max)
	}
	return nil
}

func checkBytes(field string, v uint64) error {
	if v > maxBytesValue {
		return fmt.Errorf("%s: %d exceeds %d", field, v, uint64(maxBytesValue))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Validate implements Body.
func (m *Join) Validate() error {
	if err := checkID("swarm", m.Swarm); err != nil {
		return err
	}
	if len(m.Token) == 0 || len(m.Token) > MaxTokenLen {
		return fmt.Errorf("token: want 1..%d bytes, got %d", MaxTokenLen, len(m.Token))
	}
	for i := 0; i < len(m.Token); i++ {
		if c := m.Token[i]; c < 0x21 || c > 0x7e {
			return errors.New("token: want printable ASCII without spaces")
		}
	}
	switch m.Role {
	case RoleNode:
		if m.Capabilities == nil {
			return errors.New("capabilities: required for role node")
		}
	case RoleClient:
	default:
		return fmt.Errorf("role %q: want %q or %q", truncate(string(m.Role), 32), RoleNode, RoleClient)
	}
	if m.Capabilities != nil {
		if err := m.Capabilities.Validate(); err != nil {
			return fmt.Errorf("capabilities: %w", err)
		}
	}
	return nil
}

// Validate range-checks measured capabilities.
func (c *Capabilities) Validate() error {
	if len(c.Backend) == 0 || len(c.Backend) > 32 || !ValidID(c.Backend) {
		return fmt.Errorf("backend %q: want 1..32 characters of [A-Za-z0-9._-]", truncate(c.Backend, 40))
	}
	for _, f := range []struct{ name, v string }{
		{"adapter.vendor", c.Adapter.Vendor},
		{"adapter.architecture", c.Adapter.Architecture},
		{"adapter.device", c.Adapter.Device},
		{"adapter.description", c.Adapter.Description},
	} {
		if err := checkText(f.name, f.v, 256); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{
		{"memory_budget_bytes", c.MemoryBudgetBytes},
		{"max_buffer_size", c.MaxBufferSize},
		{"max_binding_size", c.MaxBindingSize},
	} {
		if err := checkBytes(f.name, f.v); err != nil {
			return err
		}
	}
	if err := checkFloat("matmul_gflops", c.MatmulGFLOPS, maxThroughput); err != nil {
		return err
	}
	if err := checkFloat("matvec_gbps", c.MatvecGBps, maxThroughput); err != nil {
		return err
	}
	if err := checkFloat("latency_ms", c.LatencyMillis, maxLatencyMillis); err != nil {
		return err
	}
	if c.CPUCores < 0 || c.CPUCores > 1<<16 {
		return fmt.Errorf("cpu_cores: %d out of range [0, 65536]", c.CPUCores)
	}
	return nil
}

// Validate implements Body.
func (m *Welcome) Validate() error {
	if err := checkID("peer", m.Peer); err != nil {
		return err
	}
	if err := checkID("swarm", m.Swarm); err != nil {
		return err
	}
	if m.HeartbeatMillis < 10 || m.HeartbeatMillis > 600e3 {
		return fmt.Errorf("heartbeat_ms: %d out of range [10, 600000]", m.HeartbeatMillis)
	}
	if m.HeartbeatTimeoutMillis <= m.HeartbeatMillis || m.HeartbeatTimeoutMillis > 3600e3 {
		return fmt.Errorf("heartbeat_timeout_ms: %d must exceed heartbeat_ms (%d) and be at most 3600000", m.HeartbeatTimeoutMillis, m.HeartbeatMillis)
	}
	if m.MaxMessageBytes < 1024 || m.MaxMessageBytes > MaxMessageBytes {
		return fmt.Errorf("max_message_bytes: %d out of range [1024, %d]", m.MaxMessageBytes, MaxMessageBytes)
	}
	return nil
}

// Validate implements Body. The plan must be well formed: non-empty
// contiguous layer ranges covering [0, TotalLayers) in order, distinct
// peers, and Stage an index into it or -1.
func (m *Assign) Validate() error {
	if err := checkText("manifest.url", m.Manifest.URL, 2048); err != nil {
		return err
	}
	if m.Manifest.URL == "" || strings.ContainsAny(m.Manifest.URL, " \t") {
		return errors.New("manifest.url: want a non-empty URL without spaces")
	}
	if len(m.Manifest.SHA256) != 64 || strings.Trim(m.Manifest.SHA256, "0123456789abcdef") != "" {
		return errors.New("manifest.sha256: want 64 lowercase hex digits")
	}
	if m.TotalLayers < 1 || m.TotalLayers > MaxLayers {
		return fmt.Errorf("total_layers: %d out of range [1, %d]", m.TotalLayers, MaxLayers)
	}
	if len(m.Pipeline) == 0 || len(m.Pipeline) > MaxStages {
		return fmt.Errorf("pipeline: %d stages, want 1..%d", len(m.Pipeline), MaxStages)
	}
	if len(m.Pipeline) > m.TotalLayers {
		return fmt.Errorf("pipeline: %d stages for %d layers", len(m.Pipeline), m.TotalLayers)
	}
	seen := make(map[string]bool, len(m.Pipeline))
	next := 0
	for i, st := range m.Pipeline {
		if err := checkID(fmt.Sprintf("pipeline[%d].peer", i), st.Peer); err != nil {
			return err
		}
		if seen[st.Peer] {
			return fmt.Errorf("pipeline[%d].peer %q appears twice", i, st.Peer)
		}
		seen[st.Peer] = true
		if st.Layers.Start != next || st.Layers.End <= st.Layers.Start || st.Layers.End > m.TotalLayers {
			return fmt.Errorf("pipeline[%d].layers [%d,%d): want a non-empty range starting at %d within %d layers",
				i, st.Layers.Start, st.Layers.End, next, m.TotalLayers)
		}
		next = st.Layers.End
	}
	if next != m.TotalLayers {
		return fmt.Errorf("pipeline: covers layers [0,%d) of %d", next, m.TotalLayers)
	}
	if m.Stage < -1 || m.Stage >= len(m.Pipeline) {
		return fmt.Errorf("stage: %d out of range [-1, %d)", m.Stage, len(m.Pipeline))
	}
	return nil
}

// Validate checks a route: Link always, To and From when set.
func (r *Route) Validate() error {
	if err := checkID("link", r.Link); err != nil {
		return err
	}
	if r.To != "" {
		if err := checkID("to", r.To); err != nil {
			return err
		}
	}
	if r.From != "" {
		if err := checkID("from", r.From); err != nil {
			return err
		}
	}
	if r.To == "" && r.From == "" {
		return errors.New("route: neither to nor from is set")
	}
	return nil
}

// Validate implements Body.
func (m *Offer) Validate() error {
	if err := m.Route.Validate(); err != nil {
		return err
	}
	return checkSDP("sdp", m.SDP, MaxSDPLen)
}

// Validate implements Body.
func (m *Answer) Validate() error {
	if err := m.Route.Validate(); err != nil {
		return err
	}
	return checkSDP("sdp", m.SDP, MaxSDPLen)
}

// Validate implements Body. An empty candidate string is the end-of-candidates
// marker.
func (m *Candidate) Validate() error {
	if err := m.Route.Validate(); err != nil {
		return err
	}
	if m.Candidate != "" {
		if err := checkSDP("candidate", m.Candidate, MaxCandidateLen); err != nil {
			return err
		}
		if strings.ContainsAny(m.Candidate, "\r\n") {
			return errors.New("candidate: must be one line")
		}
	}
	if m.SDPMid != nil {
		if len(*m.SDPMid) > 32 {
			return errors.New("sdp_mid: longer than 32 bytes")
		}
		if *m.SDPMid != "" && !ValidID(*m.SDPMid) {
			return fmt.Errorf("sdp_mid %q: want characters of [A-Za-z0-9._-]", truncate(*m.SDPMid, 40))
		}
	}
	if m.SDPMLineIndex != nil && *m.SDPMLineIndex > 255 {
		return fmt.Errorf("sdp_mline_index: %d exceeds 255", *m.SDPMLineIndex)
	}
	return nil
}

// Validate implements Body.
func (m *Ready) Validate() error { return nil }

// Validate implements Body.
func (m *Status) Validate() error {
	switch m.State {
	case StateIdle, StateLoading, StateReady, StateServing, StateFailed:
	default:
		return fmt.Errorf("state %q: unknown", truncate(string(m.State), 32))
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{{"loaded_bytes", m.LoadedBytes}, {"total_bytes", m.TotalBytes}, {"heap_bytes", m.HeapBytes}} {
		if err := checkBytes(f.name, f.v); err != nil {
			return err
		}
	}
	if m.LoadedBytes > m.TotalBytes {
		return fmt.Errorf("loaded_bytes %d exceeds total_bytes %d", m.LoadedBytes, m.TotalBytes)
	}
	if err := checkFloat("tokens_per_s", m.TokensPerS, maxThroughput); err != nil {
		return err
	}
	if err := checkFloat("busy", m.Busy, 1); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"hop_p50_ms", m.HopP50Ms}, {"hop_p99_ms", m.HopP99Ms}} {
		if err := checkFloat(f.name, f.v, 1e6); err != nil {
			return err
		}
	}
	if m.Sessions < 0 || m.Sessions > 1<<20 {
		return fmt.Errorf("sessions: %d out of range [0, %d]", m.Sessions, 1<<20)
	}
	return checkText("message", m.Message, MaxTextLen)
}

// Validate implements Body.
func (m *Heartbeat) Validate() error { return nil }

// Validate implements Body.
func (m *Leave) Validate() error { return checkText("reason", m.Reason, MaxTextLen) }

// Validate implements Body.
func (m *Error) Validate() error {
	switch m.Code {
	case CodeBadMessage, CodeUnexpected, CodeJoinRefused, CodeSwarmFull, CodeRateLimited,
		CodeSpoofing, CodeNoSuchPeer, CodeShutdown, CodeInternal:
	default:
		return fmt.Errorf("code %q: unknown", truncate(string(m.Code), 32))
	}
	return checkText("message", m.Message, MaxTextLen)
}
