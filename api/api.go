// Package api serves an OpenAI-compatible HTTP API over a tabshard pipeline:
// GET /v1/models, POST /v1/completions and POST /v1/chat/completions, with
// server-sent-event streaming. Requests are validated strictly; a bad one
// gets a 400 with an OpenAI-style error body and costs nothing else.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/pipeline"
)

// Generator runs generations: a node.Client on a swarm, or a
// pipeline.Client on an in-process pipeline.
type Generator interface {
	Generate(ctx context.Context, req pipeline.Request) (<-chan pipeline.Event, error)
}

// Config configures the API.
type Config struct {
	ModelID   string // the id /v1/models lists and requests must name (or omit)
	Tokenizer *model.Tokenizer
	Context   int // positions a session may use
	Generator Generator
	// MaxTokens is the default (and the ceiling) for max_tokens.
	MaxTokens int
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
}

// Handler serves the API.
type Handler struct {
	cfg Config
	mux *http.ServeMux
	now func() time.Time
}

// NewHandler returns the API handler; mount it at the server root.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Tokenizer == nil || cfg.Generator == nil || cfg.ModelID == "" || cfg.Context <= 1 {
		return nil, errors.New("api: config needs a model id, tokenizer, context and generator")
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 256
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), now: time.Now}
	h.mux.HandleFunc("GET /v1/models", h.models)
	h.mux.HandleFunc("POST /v1/completions", h.completions)
	h.mux.HandleFunc("POST /v1/chat/completions", h.chat)
	return h, nil
}

// Register mounts the API's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("/v1/", h)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   []any{map[string]any{"id": h.cfg.ModelID, "object": "model", "owned_by": "tabshard"}},
	})
}

// apiError is an OpenAI-style error.
type apiError struct {
	status int
	msg    string
	param  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...), param: param}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
	}
	kind := "invalid_request_error"
	if ae.status >= 500 {
		kind = "server_error"
	}
	body := map[string]any{"message": ae.msg, "type": kind}
	if ae.param != "" {
		body["param"] = ae.param
	}
	writeJSON(w, ae.status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: unknown fields, trailing data and
// oversized bodies are refused.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return badRequest("", "Content-Type must be application/json, not %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return badRequest("", "invalid JSON body: %v", err)
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return badRequest("", "invalid JSON body: data after the request object")
	}
	return nil
}
