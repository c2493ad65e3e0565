package web

import (
	"io/fs"
	"strings"
	"testing"
)

// TestFilesHasPages: every page and the scripts and styles it references are
// embedded, and no page references an external URL.
func TestFilesHasPages(t *testing.T) {
	for _, page := range []string{"index.html", "node.html", "chat.html", "dashboard.html"} {
		b, err := fs.ReadFile(Files(), page)
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		html := string(b)
		for _, ref := range []string{"style.css", "common.js"} {
			if !strings.Contains(html, ref) {
				t.Errorf("%s does not load %s", page, ref)
			}
		}
		for _, ext := range []string{"http://", "https://", "//cdn"} {
			if i := strings.Index(html, ext); i >= 0 && !strings.Contains(html[i:min(len(html), i+40)], "host:port") {
				t.Errorf("%s references an external URL near %q", page, html[i:min(len(html), i+40)])
			}
		}
	}
	for _, f := range []string{"style.css", "common.js", "node.js", "chat.js", "dashboard.js", "dist/README.md"} {
		if _, err := fs.Stat(Files(), f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestNodeWasmBuilt reports whether `go generate ./web` ran (the node page
// explains the missing build to its visitors; here it is only logged).
func TestNodeWasmBuilt(t *testing.T) {
	if !HasNode() {
		t.Skip("dist/node.wasm is not built: run `go generate ./web`")
	}
	if _, err := fs.Stat(Files(), "dist/wasm_exec.js"); err != nil {
		t.Fatalf("node.wasm without wasm_exec.js: %v", err)
	}
}
