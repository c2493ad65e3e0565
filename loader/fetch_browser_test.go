//go:build !js

package loader

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPage runs the wasm test binary in the tab, collecting its output.
const browserPage = `<!doctype html><meta charset="utf-8"><title>loader wasm test</title>
<script>
window.__log = [];
for (const k of ["log", "warn", "error"]) {
	const orig = console[k];
	console[k] = (...a) => { window.__log.push(a.join(" ")); orig(...a); };
}
</script>
<script src="/wasm_exec.js"></script>
<script>
const go = new Go();
go.argv = ["loader.test", "-test.run=^TestJSCacheStorage$", "-test.v"];
go.env = {TABSHARD_BLOB_BASE: location.origin, TABSHARD_DIGEST: %q};
go.exit = (code) => { window.__exit = code; };
WebAssembly.instantiateStreaming(fetch("/loader.wasm"), go.importObject)
	.then((r) => go.run(r.instance))
	.catch((e) => { window.__log.push("page error: " + e); window.__exit = -1; })
	.finally(() => { window.__done = true; });
</script>`

// TestCacheStorageInChromium runs TestJSCacheStorage (fetch_js_test.go) in
// headless Chromium: the loader's own test binary, built for wasm, fetches a
// model from this server into Cache Storage and loads it a second time
// from the cache. The server counts that the second load took no bytes.
func TestCacheStorageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary and starts Chromium")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed")
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go tool unavailable: %v", err)
	}
	dir := t.TempDir()
	wasm := filepath.Join(dir, "loader.wasm")
	build := exec.Command("go", "test", "-c", "-o", wasm, ".")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the wasm test binary: %v\n%s", err, out)
	}

	man, blobs := tinyBlobs(t)
	srv := &blobServer{blobs: make(map[string][]byte)}
	srv.manifest, _ = man.Encode()
	srv.digest, _ = man.Digest()
	for _, ref := range man.Blobs {
		srv.blobs[ref.SHA256] = blobs[ref.Name]
	}
	mux := http.NewServeMux()
	mux.Handle("/models/", srv)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, browserPage, srv.digest)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	})
	mux.HandleFunc("/loader.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasm)
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	err = chromedp.Do(ctx,
		chromedp.Navigate(hs.URL+"/"),
		chromedp.Poll[chromedp.Void]("window.__done === true", chromedp.WithPollingInterval(100*time.Millisecond)),
	)
	var logs []string
	exit := -1
	if err == nil {
		logs, err = chromedp.Run(ctx, chromedp.Evaluate[[]string]("window.__log"))
	}
	if err == nil {
		exit, err = chromedp.Run(ctx, chromedp.Evaluate[int]("window.__exit === undefined ? 0 : window.__exit"))
	}
	out := strings.Join(logs, "\n")
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	t.Logf("tab output:\n%s", out)
	if exit != 0 || !strings.Contains(out, "--- PASS: TestJSCacheStorage") {
		t.Fatalf("wasm test in the tab failed (exit %d)", exit)
	}
	var total int64
	for _, ref := range man.Blobs {
		total += ref.Size
	}
	if got, want := srv.served.Load(), 2*int64(len(srv.manifest))+total; got != want {
		t.Fatalf("server sent %d bytes over two loads, want %d (manifest twice, blobs once)", got, want)
	}
}
