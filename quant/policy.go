package quant

import (
	"fmt"
	"strconv"
	"strings"
)

// A precision policy chooses a storage format for every tensor of a
// LLaMA-family model from the tensor's role (embedding, attention q/k/v/o,
// FFN gate/up/down, output head) and layer. This file holds the rule-based
// policies and the profiles; policy_adaptive.go chooses per tensor from
// measured sensitivities under a memory budget.

// Role is what a tensor does in the model, read from its GGUF name.
type Role int

// Tensor roles. RoleNorm covers every 1-D tensor (norm weights), which
// policies keep in F32 as llama.cpp does: they are tiny and sensitive.
const (
	RoleOther Role = iota
	RoleTokenEmbd
	RoleOutput
	RoleAttnQ
	RoleAttnK
	RoleAttnV
	RoleAttnOut
	RoleFFNGate
	RoleFFNUp
	RoleFFNDown
	RoleNorm
)

var roleNames = [...]string{"other", "token_embd", "output", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "norm"}

func (r Role) String() string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// InBlock reports whether tensors of this role belong to a transformer block
// (what "bits per weight over the blocks" counts).
func (r Role) InBlock() bool { return r >= RoleAttnQ && r <= RoleFFNDown }

// TensorSpec is what a policy needs to know about one tensor.
type TensorSpec struct {
	Name string
	// Dims in ggml order: Dims[0] is the row length.
	Dims []uint64
}

// Elements is the number of weights.
func (t TensorSpec) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// matrix reports whether the tensor has more than one row (1-D tensors and
// [n,1] vectors are norms or biases).
func (t TensorSpec) matrix() bool {
	rows := uint64(1)
	for _, d := range t.Dims[min(1, len(t.Dims)):] {
		rows *= d
	}
	return len(t.Dims) >= 2 && rows > 1
}

// ClassifyTensor returns the role of a GGUF tensor name and its layer (-1
// for tensors outside the blocks).
func ClassifyTensor(name string) (Role, int) {
	switch name {
	case "token_embd.weight":
		return RoleTokenEmbd, -1
	case "output.weight":
		return RoleOutput, -1
	case "output_norm.weight":
		return RoleNorm, -1
	}
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return RoleOther, -1
	}
	num, suffix, ok := strings.Cut(rest, ".")
	layer, err := strconv.Atoi(num)
	if !ok || err != nil || layer < 0 {
		return RoleOther, -1
	}
	switch suffix {
	case "attn_q.weight":
		return RoleAttnQ, layer
	case "attn_k.weight":
		return RoleAttnK, layer
	case "attn_v.weight":
		return RoleAttnV, layer
	case "attn_output.weight":
		return RoleAttnOut, layer
	case "ffn_gate.weight":
		return RoleFFNGate, layer
	case "ffn_up.weight":
		return RoleFFNUp, layer
	case "ffn_down.weight":
		return RoleFFNDown, layer
	case "attn_norm.weight", "ffn_norm.weight":
		return RoleNorm, layer
	}
	return RoleOther, layer
}

// RoleFormats gives a format per matrix role.
type RoleFormats struct {
	TokenEmbd, Output            Type
	AttnQ, AttnK, AttnV, AttnOut Type
	FFNGate, FFNUp, FFNDown      Type
	// Other is for matrices of no known role.
	Other Type
}

func (f RoleFormats) of(r Role) Type {
	switch r {
	case RoleTokenEmbd:
		return f.TokenEmbd
	case RoleOutput:
		return f.Output
	case RoleAttnQ:
		return f.AttnQ
	case RoleAttnK:
		return f.AttnK
	case RoleAttnV:
		return f.AttnV
	case RoleAttnOut:
		return f.AttnOut
	case RoleFFNGate:
		return f.FFNGate
	case RoleFFNUp:
		return f.FFNUp
	case RoleFFNDown:
		return f.FFNDown
	}
	return f.Other
}

// Uniform is every matrix role in format t.
func Uniform(t Type) RoleFormats {
	return RoleFormats{t, t, t, t, t, t, t, t, t, t}
}

// TensorFormat pins one tensor, by GGUF name, to a format.
type TensorFormat struct {
	Name string
	Type Type
}

// Policy is a rule-based format choice. Norms (1-D tensors) always stay F32.
type Policy struct {
	Name    string
	Formats RoleFormats
	// EdgeLayers > 0 stores attn_v and ffn_down of the first and last
	// EdgeLayers layers as Edge: those tensors in those layers are the most
	// sensitive in LLaMA models (llama.cpp's _M mixes do the same).
	EdgeLayers int
	Edge       Type
	// Tensors pins single tensors; it wins over every rule.
	Tensors []TensorFormat
}

// Profile names a built-in policy.
type Profile int

// Built-in profiles, from largest to smallest.
const (
	ProfileQuality  Profile = iota // Q6_K, head Q8_0: ≈7.3 bits per weight on austen-22m, near-lossless
	ProfileBalanced                // Q4_K, head Q6_K, edge attn_v/ffn_down Q6_K: ≈5.3 bits (the Q4_K_M idea)
	ProfileMemory                  // Q2_K/Q3_K, head Q4_K: ≈3.4 bits
)

// Profiles lists the built-in profiles.
var Profiles = []Profile{ProfileQuality, ProfileBalanced, ProfileMemory}

func (p Profile) String() string {
	switch p {
	case ProfileQuality:
		return "quality"
	case ProfileBalanced:
		return "balanced"
	case ProfileMemory:
		return "memory"
	}
	return "profile(" + strconv.Itoa(int(p)) + ")"
}

// ParseProfile returns the profile named s.
func ParseProfile(s string) (Profile, error) {
	for _, p := range Profiles {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown precision profile %q (quality, balanced or memory)", s)
}

// Policy returns the profile's rules. The token embedding is only looked
// up (one row per token), so its format costs memory but almost no compute;
// the output head is read whole for every token and is the most sensitive
// tensor, so it stays a step above the blocks.
func (p Profile) Policy() (Policy, error) {
	switch p {
	case ProfileQuality:
		f := Uniform(Q6_K)
		f.Output, f.Other = Q8_0, Q8_0
		return Policy{Name: p.String(), Formats: f}, nil
	case ProfileBalanced:
		f := Uniform(Q4_K)
		f.Output, f.Other = Q6_K, Q8_0
		return Policy{Name: p.String(), Formats: f, EdgeLayers: 1, Edge: Q6_K}, nil
	case ProfileMemory:
		f := Uniform(Q3_K)
		f.TokenEmbd, f.Output, f.FFNGate, f.FFNUp, f.Other = Q2_K, Q4_K, Q2_K, Q2_K, Q8_0
		return Policy{Name: p.String(), Formats: f, EdgeLayers: 1, Edge: Q4_K}, nil
	}
	return Policy{}, fmt.Errorf("quant: unknown precision profile %d", int(p))
}

// UniformPolicy stores every matrix as t (norms stay F32).
func UniformPolicy(t Type) Policy {
	return Policy{Name: t.String(), Formats: Uniform(t)}
}

// Planned is one tensor's chosen format and its stored size.
type Planned struct {
	TensorSpec
	Role  Role
	Layer int // -1 outside the blocks
	Type  Type
	Bytes uint64
}

// Plan is a format for every tensor of a model.
type Plan struct {
	Name    string
	Tensors []Planned
}

// Bytes is the total stored size of every tensor, scales included.
func (p Plan) Bytes() uint64 {
	var n uint64
	for _, t := range p.Tensors {
		n += t.Bytes
	}
	return n
}

// Weights is the total number of weights.
func (p Plan) Weights() uint64 {
	var n uint64
	for _, t := range p.Tensors {
		n += t.Elements()
	}
	return n
}

// BitsPerWeight is 8·Bytes/Weights over every tensor.
func (p Plan) BitsPerWeight() float64 { return bitsPer(p.Bytes(), p.Weights()) }

// BlockBitsPerWeight counts only the tensors inside transformer blocks
// (norms included, embeddings and output head not): the figure that
// dominates large models.
func (p Plan) BlockBitsPerWeight() float64 {
	var b, w uint64
	for _, t := range p.Tensors {
		if t.Layer >= 0 {
			b += t.Bytes
			w += t.Elements()
		}
	}
	return bitsPer(b, w)
}

func bitsPer(bytes, weights uint64) float64 {
	if weights == 0 {
		return 0
	}
	return 8 * float64(bytes) / float64(weights)
}

// Format returns the planned format of the named tensor.
func (p Plan) Format(name string) (Type, bool) {
	for _, t := range p.Tensors {
		if t.Name == name {
			return t.Type, true
		}
	}
	return 0, false
}

// Validate checks that every format the policy names can be stored and
// computed with here.
func (p Policy) Validate() error {
	f := p.Formats
	for _, c := range []struct {
		what string
		t    Type
	}{
		{"token_embd", f.TokenEmbd}, {"output", f.Output}, {"attn_q", f.AttnQ}, {"attn_k", f.AttnK},
		{"attn_v", f.AttnV}, {"attn_output", f.AttnOut}, {"ffn_gate", f.FFNGate}, {"ffn_up", f.FFNUp},
		{"ffn_down", f.FFNDown}, {"other", f.Other},
	} {
		if err := checkFormat(c.what, c.t); err != nil {
			return err
		}
	}
	if p.EdgeLayers < 0 {
		return fmt.Errorf("quant: policy %q: negative edge layer count %d", p.Name, p.EdgeLayers)
	}
	if p.EdgeLayers > 0 {
		if err := checkFormat("edge layers", p.Edge); err != nil {
			return err
		}
	}
	for _, tf := range p.Tensors {
		if err := checkFormat(tf.Name, tf.Type); err != nil {
			return err
		}
	}
	return nil
}

// checkFormat refuses formats that are unknown, that this package cannot
// quantize and compute with, or that only serve as intermediates (Q8_K).
func checkFormat(what string, t Type) error {
	switch {
	case !t.Known():
		return fmt.Errorf("quant: policy: %s: unknown format id %d", what, uint32(t))
	case !Supported(t) || t == Q8_K:
		return fmt.Errorf("quant: policy: %s: format %s cannot be used for weights here", what, t)
	}
	return nil
}

// Apply plans every tensor. It fails on a format a tensor's row length
// cannot hold (K formats need rows of multiples of 256) rather than silently
// substituting another, and on pins that name no tensor.
func (p Policy) Apply(tensors []TensorSpec) (Plan, error) {
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	layers := 0
	for _, t := range tensors {
		if _, l := ClassifyTensor(t.Name); l+1 > layers {
			layers = l + 1
		}
	}
	pins := make(map[string]Type, len(p.Tensors))
	for _, tf := range p.Tensors {
		pins[tf.Name] = tf.Type
	}
	plan := Plan{Name: p.Name, Tensors: make([]Planned, 0, len(tensors))}
	for _, t := range tensors {
		role, layer := ClassifyTensor(t.Name)
		typ := F32
		switch {
		case !t.matrix():
			role = RoleNorm
		case p.EdgeLayers > 0 && layer >= 0 && (role == RoleAttnV || role == RoleFFNDown) &&
			(layer < p.EdgeLayers || layer >= layers-p.EdgeLayers):
			typ = p.Edge
		default:
			typ = p.Formats.of(role)
		}
		if pt, ok := pins[t.Name]; ok {
			typ = pt
			delete(pins, t.Name)
		}
		pl, err := planTensor(t, role, layer, typ)
		if err != nil {
			return Plan{}, fmt.Errorf("quant: policy %q: %w", p.Name, err)
		}
		plan.Tensors = append(plan.Tensors, pl)
	}
	for name := range pins {
		return Plan{}, fmt.Errorf("quant: policy %q pins tensor %q, which the model does not have", p.Name, name)
	}
	return plan, nil
}

func planTensor(t TensorSpec, role Role, layer int, typ Type) (Planned, error) {
	if len(t.Dims) == 0 || t.Dims[0] == 0 {
		return Planned{}, fmt.Errorf("tensor %s has no weights", t.Name)
	}
	if t.Dims[0]%uint64(typ.BlockElems()) != 0 {
		return Planned{}, fmt.Errorf("tensor %s: format %s needs rows of a multiple of %d weights, its rows hold %d",
			t.Name, typ, typ.BlockElems(), t.Dims[0])
	}
	n, err := typ.TensorBytes(t.Elements())
	if err != nil {
		return Planned{}, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return Planned{TensorSpec: t, Role: role, Layer: layer, Type: typ, Bytes: n}, nil
}
