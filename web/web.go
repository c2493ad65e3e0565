// Package web is the browser app the tabshard server embeds: the node page
// (a tab that joins the swarm as a node, running cmd/wasmnode compiled to
// WebAssembly), the chat page (streaming completions from the API) and the
// dashboard (the swarm's plan, per-stage throughput and latency).
//
// Plain HTML, CSS and JavaScript, no build step, no external URLs. The only
// built files are dist/node.wasm and dist/wasm_exec.js, made by
//
//	go generate ./web
//
// which must run before building the server (cmd/signal, cmd/tabshard)
// whenever the node code changes: the wasm node speaks the same protocol as
// the server only if both come from the same commit. Without them the node
// page says so and tells how to build them.
//
// The pages read /api/config (default swarm, model, paths) and take
// ?swarm=NAME&token=TOKEN from their own URL; a node page served from
// another origin adds &server=https://host:port.
package web

import (
	"embed"
	"io/fs"
)

//go:generate go run build_wasm.go

//go:embed *.html *.css *.js dist
var files embed.FS

// Files is the app, rooted at "/" (index.html, node.html, chat.html,
// dashboard.html, their scripts and styles, dist/).
func Files() fs.FS { return files }

// HasNode reports whether dist/node.wasm was built into this binary.
func HasNode() bool {
	_, err := fs.Stat(files, "dist/node.wasm")
	return err == nil
}
