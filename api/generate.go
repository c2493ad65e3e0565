package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tabshard/tabshard/pipeline"
)

func (h *Handler) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := h.decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	ids := req.Prompt.ids
	if !req.Prompt.isID {
		if req.Prompt.text == "" {
			writeError(w, badRequest("prompt", "prompt must be a non-empty string or array of token ids"))
			return
		}
		ids = h.cfg.Tokenizer.Encode(req.Prompt.text, h.cfg.Tokenizer.AddBOS())
	}
	for _, id := range ids {
		if int(id) >= h.cfg.Tokenizer.VocabSize() {
			writeError(w, badRequest("prompt", "token id %d is outside the vocabulary of %d", id, h.cfg.Tokenizer.VocabSize()))
			return
		}
	}
	h.run(w, r, &req.params, ids, false)
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := h.decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, badRequest("messages", "messages must not be empty"))
		return
	}
	// The served models are base models with no chat template: the
	// conversation becomes plain text, one paragraph a message, and the
	// model continues it.
	var b strings.Builder
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			writeError(w, badRequest("messages", "message %d has unknown role %q", i, m.Role))
			return
		}
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(m.Content)
	}
	h.run(w, r, &req.params, h.cfg.Tokenizer.Encode(b.String(), h.cfg.Tokenizer.AddBOS()), true)
}

// run generates for one request, streaming or not.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, p *params, ids []int32, chat bool) {
	tok := h.cfg.Tokenizer
	s, err := h.sampling(p, len(ids))
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := h.cfg.Generator.Generate(ctx, pipeline.Request{Prompt: ids, Sampling: s})
	if err != nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, msg: err.Error()})
		return
	}
	out := &output{h: h, chat: chat, id: newID(chat), created: h.now().Unix(), stream: p.Stream, w: w, stops: p.Stop, prompt: len(ids)}
	if p.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
	}
	dec := tok.ContinueStream()
	finish := "length"
	for ev := range events {
		if ev.Err != nil {
			out.fail(ev.Err)
			return
		}
		out.tokens++
		if stopped := out.add(dec.Next(ev.ID)); stopped {
			finish = "stop"
			cancel() // frees the session in the pipeline
			break
		}
		switch ev.Stop {
		case pipeline.StopEOS, pipeline.StopSequence:
			finish = "stop"
		}
	}
	if finish == "length" || out.tokens == 0 {
		out.add(dec.Flush())
	}
	out.finish(finish)
}

// output accumulates (and, streaming, sends) the generated text.
type output struct {
	h       *Handler
	chat    bool
	id      string
	created int64
	stream  bool
	w       http.ResponseWriter
	stops   []string
	text    strings.Builder
	sent    int // bytes of text already streamed
	tokens  int
	prompt  int
	started bool
}

// add appends piece and reports whether a stop sequence has appeared (the
// text is cut before it). Streaming holds back a tail that could still be
// the start of a stop sequence.
func (o *output) add(piece string) bool {
	o.text.WriteString(piece)
	full := o.text.String()
	for _, st := range o.stops {
		if i := strings.Index(full, st); i >= 0 {
			o.text.Reset()
			o.text.WriteString(full[:i])
			o.flush(len(full[:i]))
			return true
		}
	}
	hold := 0
	for _, st := range o.stops {
		for k := min(len(st)-1, len(full)); k > 0; k-- {
			if strings.HasSuffix(full, st[:k]) {
				hold = max(hold, k)
				break
			}
		}
	}
	o.flush(len(full) - hold)
	return false
}

// flush streams text up to byte upto.
func (o *output) flush(upto int) {
	if !o.stream || upto <= o.sent {
		return
	}
	piece := o.text.String()[o.sent:upto]
	o.sent = upto
	o.event(o.choice(piece, nil))
}

func (o *output) choice(text string, finish *string) map[string]any {
	c := map[string]any{"index": 0, "finish_reason": finish}
	switch {
	case o.chat && o.stream:
		delta := map[string]any{}
		if !o.started {
			delta["role"] = "assistant"
		}
		if text != "" || finish == nil {
			delta["content"] = text
		}
		c["delta"] = delta
	case o.chat:
		c["message"] = map[string]any{"role": "assistant", "content": text}
	default:
		c["text"] = text
	}
	o.started = true
	return c
}

func (o *output) object() string {
	switch {
	case o.chat && o.stream:
		return "chat.completion.chunk"
	case o.chat:
		return "chat.completion"
	default:
		return "text_completion"
	}
}

func (o *output) envelope(choice map[string]any) map[string]any {
	return map[string]any{"id": o.id, "object": o.object(), "created": o.created, "model": o.h.cfg.ModelID, "choices": []any{choice}}
}

func (o *output) event(choice map[string]any) {
	b, _ := json.Marshal(o.envelope(choice))
	fmt.Fprintf(o.w, "data: %s\n\n", b)
	if f, ok := o.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (o *output) finish(reason string) {
	if o.stream {
		o.flush(o.text.Len())
		o.event(o.choice("", &reason))
		fmt.Fprint(o.w, "data: [DONE]\n\n")
		return
	}
	env := o.envelope(o.choice(o.text.String(), &reason))
	env["usage"] = map[string]int{"prompt_tokens": o.prompt, "completion_tokens": o.tokens, "total_tokens": o.prompt + o.tokens}
	writeJSON(o.w, http.StatusOK, env)
}

// fail reports a generation that broke after it started.
func (o *output) fail(err error) {
	if !o.stream {
		writeError(o.w, &apiError{status: http.StatusBadGateway, msg: err.Error()})
		return
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": err.Error(), "type": "server_error"}})
	fmt.Fprintf(o.w, "data: %s\n\n", b)
}

func newID(chat bool) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	if chat {
		return "chatcmpl-" + hex.EncodeToString(b[:])
	}
	return "cmpl-" + hex.EncodeToString(b[:])
}
