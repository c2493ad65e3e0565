package main

import (
	"bufio"
	"fmt"
	"os"
	"sync"

	"github.com/tabshard/tabshard/pipeline"
)

// traceWriter writes a node's trace points to a file, one line each
// (unix nanoseconds, point, position, rows), buffered: lines reach the
// file when the buffer fills and at Close, never while a token is timed.
type traceWriter struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error
}

func newTraceWriter(path string) (*traceWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-trace: %w", err)
	}
	return &traceWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Write records one point; the first write error stops the trace.
func (t *traceWriter) Write(e pipeline.TraceEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, "%d %s %d %d\n", e.At.UnixNano(), e.Kind, e.Pos, e.Rows)
	}
}

// Close flushes and closes the file.
func (t *traceWriter) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.w.Flush(); err != nil && t.err == nil {
		t.err = err
	}
	if err := t.f.Close(); err != nil && t.err == nil {
		t.err = err
	}
	return t.err
}
