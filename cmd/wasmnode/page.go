//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall/js"
)

// event is one message to the page. Kind selects which fields are set; the
// page (web/node.js) renders it and keeps the latest state for tests.
type event struct {
	Kind string `json:"kind"`
	// log
	Level string            `json:"level,omitempty"`
	Msg   string            `json:"msg,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	// blob progress
	Blob   string `json:"blob,omitempty"`
	Done   int64  `json:"done,omitempty"`
	Total  int64  `json:"total,omitempty"`
	Cached bool   `json:"cached,omitempty"`
	// heap
	HeapInuse uint64 `json:"heap_inuse,omitempty"`
	HeapSys   uint64 `json:"heap_sys,omitempty"`
	Sys       uint64 `json:"sys,omitempty"`
	// detection and measurement
	Detect *detection `json:"detect,omitempty"`
	Caps   any        `json:"caps,omitempty"`
}

// emit hands an event to the page's tabshardEvent(json) function. It never
// blocks: the page function only updates the DOM.
func emit(ev event) {
	b, err := json.Marshal(ev)
	if err != nil {
		b, _ = json.Marshal(event{Kind: "log", Level: "ERROR", Msg: "encoding an event: " + err.Error()})
	}
	if f := js.Global().Get("tabshardEvent"); f.Type() == js.TypeFunction {
		f.Invoke(string(b))
	}
}

// params is what the page's URL says.
type params struct {
	Server string // origin of the tabshard server (default: the page's)
	Swarm  string
	Token  string
}

// pageParams reads ?swarm=&token=&server= from the page's URL.
func pageParams() (params, error) {
	loc := js.Global().Get("location")
	q, err := url.ParseQuery(strings.TrimPrefix(loc.Get("search").String(), "?"))
	if err != nil {
		return params{}, fmt.Errorf("page URL query: %w", err)
	}
	p := params{Server: loc.Get("origin").String(), Swarm: q.Get("swarm"), Token: q.Get("token")}
	if s := q.Get("server"); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return params{}, fmt.Errorf("server=%q is not an origin like https://host:port", s)
		}
		p.Server = u.Scheme + "://" + u.Host
	}
	return p, nil
}

// signalURL is the server's WebSocket endpoint for an http(s) origin.
func signalURL(server, path string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server %q is not http or https", server)
	}
	u.Path = path
	return u.String(), nil
}

// await blocks the calling goroutine until promise settles or ctx ends.
// Never call it from inside a js.FuncOf callback: that deadlocks Go-wasm.
func await(ctx context.Context, promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		done <- result{v: v}
		return nil
	})
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 && !args[0].IsUndefined() && !args[0].IsNull() {
			msg = args[0].Call("toString").String()
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	promise.Call("then", onOK, onErr)
	select {
	case r := <-done:
		onOK.Release()
		onErr.Release()
		return r.v, r.err
	case <-ctx.Done():
		// Keep the callbacks alive until the promise settles.
		go func() {
			<-done
			onOK.Release()
			onErr.Release()
		}()
		return js.Value{}, ctx.Err()
	}
}

func jsOrigin() string { return js.Global().Get("location").Get("origin").String() }
