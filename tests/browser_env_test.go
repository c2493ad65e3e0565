package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tabshard/tabshard/hub"
	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/swarm"
	"github.com/tabshard/tabshard/web"
)

// requireBrowserEnv skips browser tests outside a private network namespace
// (WebRTC between tabs needs a non-loopback address and a default route;
// see ../shared/PLATFORM.md), and fails them in CI, where test.sh must
// provide one. It returns the Chromium binary.
func requireBrowserEnv(t *testing.T) string {
	t.Helper()
	if os.Getenv("TABSHARD_NETNS") == "" {
		msg := "browser tests need a private network namespace with a veth address and default route (TABSHARD_NETNS=1); run them through test.sh or the unshare recipe in PLATFORM.md"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if testing.Short() {
		t.Skip("starts Chromium and a swarm of tabs")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if chrome, err = exec.LookPath("/usr/bin/chromium"); err != nil {
			t.Fatal("chromium not installed (apt-get install chromium)")
		}
	}
	return chrome
}

// wasmFiles is web.Files() with dist/node.wasm and dist/wasm_exec.js built
// now from this tree, so the tabs run the code under test whether or not
// `go generate ./web` ran.
func wasmFiles(t *testing.T) fs.FS {
	t.Helper()
	dir := t.TempDir()
	wasm := filepath.Join(dir, "node.wasm")
	build := exec.Command("go", "build", "-o", wasm, "./cmd/wasmnode")
	build.Dir = testdata.Root()
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cmd/wasmnode for js/wasm: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	glue := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")
	if _, err := os.Stat(glue); err != nil {
		glue = filepath.Join(strings.TrimSpace(string(goroot)), "misc", "wasm", "wasm_exec.js")
	}
	return overlayFS{base: web.Files(), files: map[string]string{"dist/node.wasm": wasm, "dist/wasm_exec.js": glue}}
}

// overlayFS serves some names from files on disk, the rest from base.
type overlayFS struct {
	base  fs.FS
	files map[string]string
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if p, ok := o.files[name]; ok {
		return os.Open(p)
	}
	return o.base.Open(name)
}

const (
	browserSwarm = "tabs"
	browserToken = "browser-token-0123456789abcdef"
)

// testHub is a hub serving one model and the web app on a local port.
type testHub struct {
	*hub.Hub
	URL string
}

// startHub serves modelPath for a swarm planned over at least minNodes
// nodes (every node a stage), allowing pages from the given origins, and
// starts its API gateway.
func startHub(t *testing.T, ctx context.Context, files fs.FS, modelPath string, minNodes int, origins ...string) *testHub {
	t.Helper()
	h, err := hub.New(hub.Config{
		Swarm: swarm.Config{
			Swarms:            []swarm.SwarmConfig{{Name: browserSwarm, Token: browserToken}},
			AllowedOrigins:    origins,
			HeartbeatInterval: time.Second,
			HeartbeatTimeout:  5 * time.Second,
		},
		ModelPath: modelPath,
		Plan:      hub.PlanSettings{MinNodes: minNodes, Spread: true, Context: 256, Sessions: 8},
		Web:       files,
		Logger:    quietLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h.Handler())
	t.Cleanup(func() { hs.Close(); h.Close() })
	if err := h.StartGateway(ctx, hs.URL); err != nil {
		t.Fatal(err)
	}
	return &testHub{Hub: h, URL: hs.URL}
}

// staticOrigin serves only the web app: a second origin for node pages.
func staticOrigin(t *testing.T, files fs.FS) *httptest.Server {
	s := httptest.NewServer(http.FileServerFS(files))
	t.Cleanup(s.Close)
	return s
}

// browser is one headless Chromium; tabs are targets of its root context.
type browser struct {
	t    *testing.T
	root context.Context
}

// startBrowser launches Chromium with PLATFORM.md's flags, WebGPU enabled
// (SwiftShader), WebRTC host candidates as plain addresses, and no
// throttling of background tabs (every node tab must keep computing).
func startBrowser(t *testing.T, chrome string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("window-size", "1200,1100"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(root, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, root: root}
}

// tab is one page of the browser.
type tab struct {
	b      *browser
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// open navigates a new tab to url. noGPU hides navigator.gpu from the page
// before any of its scripts run: the tab has WebGPU unavailable, as in a
// browser without it.
func (b *browser) open(name, url string, noGPU bool) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root)
	if noGPU {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(Navigator.prototype, "gpu", {get() { return undefined; }, configurable: true});`,
		})
		if err != nil {
			cancel()
			b.t.Fatalf("%s: hiding WebGPU: %v", name, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		cancel()
		b.t.Fatalf("%s: opening %s: %v", name, url, err)
	}
	tb := &tab{b: b, name: name, ctx: ctx, cancel: cancel}
	b.t.Cleanup(cancel)
	return tb
}

// close closes the tab (as a person closing it would: the page is gone).
func (tb *tab) close() {
	if err := chromedp.Cancel(tb.ctx); err != nil {
		tb.b.t.Logf("%s: closing: %v", tb.name, err)
	}
}

// eval evaluates a JavaScript expression in the tab into v.
func (tb *tab) eval(expr string, v any) error {
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[json.RawMessage]("JSON.stringify("+expr+")"))
	if err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: result of %s: %w", tb.name, expr, err)
	}
	return json.Unmarshal([]byte(s), v)
}

// waitFor polls cond (a JavaScript boolean expression) until it holds;
// failIf (if not empty) is an expression whose non-empty string value ends
// the wait with that message (the page showed an error).
func (tb *tab) waitFor(what, cond, failIf string, timeout time.Duration) {
	tb.b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if err := tb.eval("Boolean("+cond+")", &ok); err != nil {
			tb.b.t.Fatalf("%s: waiting for %s: %v", tb.name, what, err)
		}
		if ok {
			return
		}
		if failIf != "" {
			var msg string
			if err := tb.eval("String("+failIf+" || '')", &msg); err == nil && msg != "" {
				tb.b.t.Fatalf("%s: while waiting for %s the page failed: %s", tb.name, what, msg)
			}
		}
		if time.Now().After(deadline) {
			var dump any
			_ = tb.eval("window.tabshardState || window.chatState || window.dashState || null", &dump)
			tb.b.t.Fatalf("%s: %s did not happen within %v; page state: %v", tb.name, what, timeout, dump)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// screenshot saves a PNG of the tab under tests/screenshots/.
func (tb *tab) screenshot(file string) {
	tb.b.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.b.t.Errorf("%s: screenshot: %v", tb.name, err)
		return
	}
	if err := os.MkdirAll("screenshots", 0o755); err != nil {
		tb.b.t.Fatal(err)
	}
	p := filepath.Join("screenshots", file)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.b.t.Fatal(err)
	}
	tb.b.t.Logf("screenshot %s (%d bytes)", p, len(png))
}
