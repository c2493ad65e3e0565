package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/tabshard/tabshard/pipeline"
)

// params are the sampling fields both endpoints take. top_k, min_p and
// repeat_penalty are extensions (llama.cpp's server takes them too).
type params struct {
	Model            string    `json:"model"`
	MaxTokens        *int      `json:"max_tokens"`
	Temperature      *float64  `json:"temperature"`
	TopP             *float64  `json:"top_p"`
	TopK             *int      `json:"top_k"`
	MinP             *float64  `json:"min_p"`
	RepeatPenalty    *float64  `json:"repeat_penalty"`
	FrequencyPenalty *float64  `json:"frequency_penalty"`
	PresencePenalty  *float64  `json:"presence_penalty"`
	Seed             *uint64   `json:"seed"`
	Stop             stopList  `json:"stop"`
	Stream           bool      `json:"stream"`
	N                *int      `json:"n"`
	User             string    `json:"user"`
	Logprobs         *bool     `json:"logprobs"`
	StreamOptions    *struct{} `json:"stream_options"`
}

// stopList takes a string or an array of strings.
type stopList []string

func (s *stopList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

type completionRequest struct {
	params
	Prompt prompt `json:"prompt"`
}

// prompt is OpenAI's prompt field: a string, or an array of token ids (which
// the model gets exactly as given: no BOS is added).
type prompt struct {
	text string
	ids  []int32
	isID bool
}

func (p *prompt) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &p.text); err == nil {
		return nil
	}
	var ids []int64
	if err := json.Unmarshal(b, &ids); err != nil {
		return errors.New("prompt must be a string or an array of token ids")
	}
	p.isID = true
	for _, id := range ids {
		if id < 0 || id > math.MaxInt32 {
			return fmt.Errorf("prompt token id %d is out of range", id)
		}
		p.ids = append(p.ids, int32(id))
	}
	return nil
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Name    string `json:"name,omitempty"`
}

type chatRequest struct {
	params
	Messages []chatMessage `json:"messages"`
}

// sampling validates p and returns the pipeline's sampling settings and the
// token budget. OpenAI's defaults: temperature 1, top_p 1.
func (h *Handler) sampling(p *params, promptTokens int) (pipeline.Sampling, error) {
	if p.Model != "" && p.Model != h.cfg.ModelID {
		return pipeline.Sampling{}, &apiError{status: 404, msg: "model " + quote(p.Model) + " does not exist; this server serves " + quote(h.cfg.ModelID), param: "model"}
	}
	if p.N != nil && *p.N != 1 {
		return pipeline.Sampling{}, badRequest("n", "only n=1 is supported")
	}
	if p.Logprobs != nil && *p.Logprobs {
		return pipeline.Sampling{}, badRequest("logprobs", "logprobs are not supported")
	}
	for name, v := range map[string]*float64{"frequency_penalty": p.FrequencyPenalty, "presence_penalty": p.PresencePenalty} {
		if v != nil && *v != 0 {
			return pipeline.Sampling{}, badRequest(name, "%s is not supported (use repeat_penalty)", name)
		}
	}
	s := pipeline.Sampling{Temperature: 1, TopP: 1, RepeatPenalty: 1, RepeatLastN: 64}
	maxTokens := h.cfg.MaxTokens
	if p.MaxTokens != nil {
		if *p.MaxTokens < 1 || *p.MaxTokens > h.cfg.MaxTokens {
			return s, badRequest("max_tokens", "max_tokens must be in [1, %d]", h.cfg.MaxTokens)
		}
		maxTokens = *p.MaxTokens
	}
	if promptTokens < 1 || promptTokens+1 >= h.cfg.Context {
		return s, badRequest("prompt", "the prompt is %d tokens; the context holds %d", promptTokens, h.cfg.Context)
	}
	s.MaxTokens = uint32(min(maxTokens, h.cfg.Context-1-promptTokens))
	checks := []struct {
		name   string
		v      *float64
		lo, hi float64
		dst    *float32
	}{
		{"temperature", p.Temperature, 0, 2, &s.Temperature},
		{"top_p", p.TopP, math.SmallestNonzeroFloat32, 1, &s.TopP},
		{"min_p", p.MinP, 0, 1, &s.MinP},
		{"repeat_penalty", p.RepeatPenalty, 0.01, 10, &s.RepeatPenalty},
	}
	for _, c := range checks {
		if c.v == nil {
			continue
		}
		if math.IsNaN(*c.v) || *c.v < c.lo || *c.v > c.hi {
			return s, badRequest(c.name, "%s must be in [%g, %g]", c.name, c.lo, c.hi)
		}
		*c.dst = float32(*c.v)
	}
	if p.TopK != nil {
		if *p.TopK < 0 || *p.TopK > 1<<20 {
			return s, badRequest("top_k", "top_k must be in [0, %d]", 1<<20)
		}
		s.TopK = uint32(*p.TopK)
	}
	if p.Seed != nil {
		s.Seed = *p.Seed
	} else {
		s.Seed = uint64(h.now().UnixNano())
	}
	if len(p.Stop) > 4 {
		return s, badRequest("stop", "at most 4 stop sequences")
	}
	for _, st := range p.Stop {
		if st == "" || len(st) > 256 {
			return s, badRequest("stop", "stop sequences must be 1..256 bytes")
		}
	}
	return s, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
