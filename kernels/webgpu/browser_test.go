//go:build !js

package webgpu

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPage runs a Go wasm test binary: its console output goes to
// window.testLog and its exit code to window.testExit.
const browserPage = `<!doctype html><html><body><script src="wasm_exec.js"></script><script>
window.testLog = [];
const log = console.log;
console.log = (...a) => { window.testLog.push(a.join(" ")); log(...a); };
const go = new Go();
go.argv = ["browsertest.wasm", "-test.v"];
go.exit = (code) => { window.testExit = code; };
WebAssembly.instantiateStreaming(fetch("browsertest.wasm"), go.importObject)
  .then(r => go.run(r.instance))
  .catch(e => { window.testLog.push("load failed: " + e); window.testExit = 99; });
</script></body></html>`

// TestBrowserConformance builds the conformance suite for GOOS=js and runs it
// in headless Chromium on its WebGPU adapter (SwiftShader without a GPU).
// It skips when no chromium binary is installed.
func TestBrowserConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary and starts Chromium")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium on PATH")
	}
	dir := t.TempDir()
	build := exec.Command("go", "test", "-c", "-o", filepath.Join(dir, "browsertest.wasm"), "./browsertest")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the wasm test binary: %v\n%s", err, out)
	}
	execJS := filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js")
	js, err := os.ReadFile(execJS)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"wasm_exec.js": js, "index.html": []byte(browserPage)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go srv.Serve(ln) // ends when srv.Close runs below
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	ctx, cancel3 := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel3()
	if _, err := chromedp.Run(ctx, chromedp.Navigate("http://"+ln.Addr().String()+"/index.html")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`window.testExit !== undefined`, chromedp.WithPollingTimeout(14*time.Minute), chromedp.WithPollingInterval(time.Second)))
	code := -1
	if err == nil {
		code, err = chromedp.Run(ctx, chromedp.Evaluate[int](`window.testExit`))
	}
	logs, lerr := chromedp.Run(ctx, chromedp.Evaluate[string](`window.testLog.join("\n")`))
	if lerr == nil {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "---") || strings.Contains(l, "FAIL") || strings.Contains(l, "device:") || strings.Contains(l, ".go:") {
				t.Log(l)
			}
		}
	}
	if err != nil {
		t.Fatalf("waiting for the wasm tests: %v", err)
	}
	if code != 0 {
		t.Fatalf("wasm conformance suite exited with %d", code)
	}
}
