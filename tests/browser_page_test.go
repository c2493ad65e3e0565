package tests

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/web"
)

// withoutWasm is the web app as served by a server built without
// `go generate ./web`: no dist/node.wasm, no dist/wasm_exec.js.
type withoutWasm struct{ fs.FS }

func (w withoutWasm) Open(name string) (fs.File, error) {
	if strings.HasPrefix(name, "dist/") && name != "dist/README.md" {
		return nil, fs.ErrNotExist
	}
	return w.FS.Open(name)
}

// TestBrowserNodePageWithoutWasm: a node page whose server has no wasm node
// built says so, and how to build it. (No swarm, no WebRTC: no namespace
// needed.)
func TestBrowserNodePageWithoutWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not installed")
		}
		t.Skip("chromium not installed")
	}
	s := httptest.NewServer(http.FileServerFS(withoutWasm{web.Files()}))
	defer s.Close()
	b := startBrowser(t, chrome)
	tb := b.open("node page without wasm", s.URL+"/node.html?swarm=x&token=y", false)
	tb.waitFor("the missing-build message", `tabshardState.phase === "missing"`, "", 30*time.Second)
	var banner string
	if err := tb.eval(`document.getElementById("banner").textContent`, &banner); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner, "go generate ./web") {
		t.Fatalf("banner %q does not say how to build the wasm node", banner)
	}
	t.Logf("the page says: %s", banner)
}
