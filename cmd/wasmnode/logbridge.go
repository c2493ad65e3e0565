//go:build js && wasm

package main

import (
	"context"
	"log/slog"
)

// pageHandler is a slog.Handler that shows the node's log on the page (and
// in the console): the node's "joined", "loaded", "serving" and failure
// records are how the page learns its peer id, device and layers.
type pageHandler struct {
	attrs []slog.Attr
	level slog.Level
}

func (h *pageHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *pageHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := make(map[string]string, len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	emit(event{Kind: "log", Level: r.Level.String(), Msg: r.Message, Attrs: attrs})
	return nil
}

func (h *pageHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &pageHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), as...), level: h.level}
}

// WithGroup flattens groups: the node does not use them.
func (h *pageHandler) WithGroup(string) slog.Handler { return h }
