package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/model"
)

// nodeState is the node page's window.tabshardState (web/node.js).
type nodeState struct {
	Phase          string             `json:"phase"`
	Peer           string             `json:"peer"`
	Backend        string             `json:"backend"`
	Device         string             `json:"device"`
	Layers         []int              `json:"layers"`
	Stage          string             `json:"stage"`
	BlobEvents     int                `json:"blobEvents"`
	BlobsDone      int                `json:"blobsDone"`
	BlobsCached    int                `json:"blobsCached"`
	Heap           float64            `json:"heap"`
	HeapPeak       float64            `json:"heapPeak"`
	HeapPeakLoaded float64            `json:"heapPeakLoaded"`
	Error          string             `json:"error"`
	Times          map[string]float64 `json:"times"`
	Blobs          map[string]struct {
		Done   int64 `json:"done"`
		Total  int64 `json:"total"`
		Cached bool  `json:"cached"`
		Events int   `json:"events"`
	} `json:"blobs"`
	Detect struct {
		Adapter     bool   `json:"adapter"`
		Description string `json:"description"`
		Vendor      string `json:"vendor"`
		Reason      string `json:"reason"`
	} `json:"detect"`
}

func (tb *tab) node() nodeState {
	tb.b.t.Helper()
	var s nodeState
	if err := tb.eval("window.tabshardState", &s); err != nil {
		tb.b.t.Fatalf("%s: reading the node state: %v", tb.name, err)
	}
	return s
}

// waitServing waits until the node page serves a stage.
func (tb *tab) waitServing(timeout time.Duration) nodeState {
	tb.b.t.Helper()
	tb.waitFor("serving a stage", `tabshardState.phase === "serving"`, "tabshardState.error", timeout)
	return tb.node()
}

// chatResult is the chat page's window.chatState after a generation.
type chatResult struct {
	Text        string `json:"text"`
	Chunks      int    `json:"chunks"`
	Finish      string `json:"finish"`
	Error       string `json:"error"`
	Generations int    `json:"generations"`
	Running     bool   `json:"running"`
}

// startChat fills the chat page's prompt and greedy sampling controls
// (temperature 0; the other filters off) and presses Generate.
func (tb *tab) startChat(prompt string, maxTokens int) int {
	tb.b.t.Helper()
	var before chatResult
	if err := tb.eval("window.chatState", &before); err != nil {
		tb.b.t.Fatal(err)
	}
	p, _ := json.Marshal(prompt)
	js := fmt.Sprintf(`(() => {
		const set = (id, v) => { document.getElementById(id).value = v; };
		set("prompt", %s); set("temperature", "0"); set("top_k", "0"); set("top_p", "1");
		set("min_p", "0"); set("repeat_penalty", "1"); set("max_tokens", "%d"); set("seed", "1");
		document.getElementById("go").click();
		return true;
	})()`, p, maxTokens)
	var ok bool
	if err := tb.eval(js, &ok); err != nil {
		tb.b.t.Fatalf("%s: starting a generation: %v", tb.name, err)
	}
	return before.Generations
}

// waitChat waits for the generation after generation number n to end.
func (tb *tab) waitChat(n int, timeout time.Duration) chatResult {
	tb.b.t.Helper()
	tb.waitFor("the generation to finish", fmt.Sprintf("chatState.generations > %d && !chatState.running", n), "", timeout)
	var r chatResult
	if err := tb.eval("window.chatState", &r); err != nil {
		tb.b.t.Fatal(err)
	}
	return r
}

// textCase is a reference prompt as the text the chat page sends, and the
// text the API must stream back for the expected token ids.
type textCase struct {
	name, prompt, want string
	ids                []int32
}

// textCases turns token-id cases into what the chat page sends: the decoded
// input ids when that text encodes back to exactly those ids, else the ids
// as a JSON array (the page sends it as a token-array prompt); the expected output is the expected ids decoded as a continuation,
// as the API decodes them (model.Tokenizer.ContinueStream). Equal text for
// 48 tokens is what the page can observe of equal ids.
func textCases(t *testing.T, tok *model.Tokenizer, cases []refCase, want map[string][]int32) []textCase {
	t.Helper()
	var out []textCase
	for _, c := range cases {
		prompt := tok.Decode(c.Input)
		if back := tok.Encode(prompt, tok.AddBOS()); prompt == "" || !slices.Equal(back, c.Input) {
			// No text encodes to these ids (pp_mid starts mid-word
			// without BOS; bos_only is BOS alone and the API refuses an
			// empty prompt): the page sends the ids themselves.
			b, _ := json.Marshal(c.Input)
			prompt = string(b)
		}
		d := tok.ContinueStream()
		var sb strings.Builder
		for _, id := range want[c.Name] {
			sb.WriteString(d.Next(id))
		}
		sb.WriteString(d.Flush())
		out = append(out, textCase{name: c.Name, prompt: prompt, want: sb.String(), ids: want[c.Name]})
	}
	return out
}

// waitPipeline waits until the hub's plan has n stages, every one ready for
// the current epoch, and its API gateway is linked to the first.
func waitPipeline(t *testing.T, ctx context.Context, h *testHub, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, ok := h.Swarm().Swarm(browserSwarm)
		ready := ok && v.Plan != nil && len(v.Plan.Pipeline) == n
		if ready {
			for _, st := range v.Plan.Pipeline {
				p, ok := v.Peer(st.Peer)
				ready = ready && ok && p.Ready && p.ReadyEpoch == v.Epoch
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(v)
			t.Fatalf("no ready %d-stage pipeline within %v: %s", n, timeout, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Gateway().WaitReady(wctx); err != nil {
		t.Fatalf("the API gateway did not link to the pipeline: %v", err)
	}
}

// checkNodes checks what every node tab reports: a stage, progress per
// blob, and a Go heap below 256 MiB while holding its layers.
func checkNodes(t *testing.T, tabs []*tab) {
	t.Helper()
	for _, tb := range tabs {
		s := tb.node()
		t.Logf("%s: peer %s, %s (%s), layers %v, stage %s, %d blobs (%d cached, %d progress events), heap %.1f MiB (peak %.1f MiB, peak while serving %.1f MiB)",
			tb.name, s.Peer, s.Backend, s.Device, s.Layers, s.Stage, s.BlobsDone, s.BlobsCached, s.BlobEvents,
			s.Heap/(1<<20), s.HeapPeak/(1<<20), s.HeapPeakLoaded/(1<<20))
		t.Logf("%s: milestones (s since page start) %v", tb.name, s.Times)
		if len(s.Blobs) == 0 || s.BlobEvents < len(s.Blobs) {
			t.Errorf("%s: %d progress events for %d blobs: want at least one per blob", tb.name, s.BlobEvents, len(s.Blobs))
		}
		for name, bl := range s.Blobs {
			if bl.Events < 1 || bl.Done != bl.Total {
				t.Errorf("%s: blob %s: %d of %d bytes after %d events", tb.name, name, bl.Done, bl.Total, bl.Events)
			}
		}
		if s.HeapPeak >= 256<<20 || s.HeapPeakLoaded >= 256<<20 {
			t.Errorf("%s: Go heap peaked at %.1f MiB (%.1f MiB serving): want < 256 MiB", tb.name, s.HeapPeak/(1<<20), s.HeapPeakLoaded/(1<<20))
		}
	}
}

// formPipeline opens three node tabs on h (the third with WebGPU hidden, so
// on the CPU fallback), screenshots the first while it loads (when shot is
// not empty), and waits for the 3-stage pipeline.
func formPipeline(t *testing.T, ctx context.Context, b *browser, h *testHub, q, shot string) []*tab {
	t.Helper()
	nodes := []*tab{
		b.open("node-1", h.URL+q, false),
		b.open("node-2", h.URL+q, false),
		b.open("node-3 (no WebGPU)", h.URL+q, true),
	}
	if shot != "" {
		nodes[0].waitFor("loading with progress", `(tabshardState.phase === "loading" && tabshardState.load.done > 0) || tabshardState.phase === "serving"`, "tabshardState.error", 2*time.Minute)
		nodes[0].screenshot(shot)
		if s := nodes[0].node(); s.Phase != "loading" {
			t.Logf("node-1 was already %s when the loading screenshot was taken", s.Phase)
		}
	}
	for _, n := range nodes {
		n.waitServing(2 * time.Minute)
	}
	waitPipeline(t, ctx, h, 3, time.Minute)
	for i, n := range nodes {
		s := n.node()
		wantBackend := "webgpu"
		if i == 2 {
			wantBackend = "cpu"
		}
		if s.Backend != wantBackend {
			t.Fatalf("%s: backend %q (%s), want %q", n.name, s.Backend, s.Detect.Reason, wantBackend)
		}
	}
	return nodes
}

// runCases drives the chat page through every case and compares the text.
func runCases(t *testing.T, chat *tab, tcs []textCase) {
	t.Helper()
	for _, c := range tcs {
		t0 := time.Now()
		n := chat.startChat(c.prompt, len(c.ids))
		r := chat.waitChat(n, 2*time.Minute)
		t.Logf("%s: %d chunks in %v, finish %s", c.name, r.Chunks, time.Since(t0).Round(time.Millisecond), r.Finish)
		if r.Error != "" {
			t.Errorf("%s: the chat page shows an error for prompt %.60q: %s", c.name, c.prompt, r.Error)
		} else if r.Text != c.want {
			t.Errorf("%s: the chat page shows\n %q\nwant (ids %v)\n %q", c.name, r.Text, c.ids, c.want)
		}
	}
}

// diagnoseCrossOrigin logs how the tab's cross-origin fetch of the
// manifest fares with and without the browser's HTTP cache: a response
// cached for a same-origin page without "Vary: Origin" (and so without
// CORS headers) fails a later cross-origin read of the same URL.
func diagnoseCrossOrigin(t *testing.T, tb *tab, h *testHub) {
	u, _ := json.Marshal(h.URL + "/models/" + h.Digest() + "/manifest.json")
	js := fmt.Sprintf(`(async () => {
		const try1 = async (opts) => { try { const r = await fetch(%s, opts); return r.status + " " + r.headers.get("access-control-allow-origin"); } catch (e) { return String(e); } };
		return JSON.stringify({default_cache: await try1({}), no_store: await try1({cache: "no-store"})});
	})()`, u)
	out, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	t.Logf("%s: cross-origin manifest fetch: %s %v", tb.name, out, err)
}

// TestBrowserSwarmQ4KM: the same three tabs (two WebGPU, one CPU fallback)
// serve austen-22m Q4_K_M, and the chat page reproduces the single-process
// engine's greedy output for the four reference prompts.
func TestBrowserSwarmQ4KM(t *testing.T) {
	chrome := requireBrowserEnv(t)
	path := testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	cases := referenceCases(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	files := wasmFiles(t)
	h := startHub(t, ctx, files, path, 3)
	want := map[string][]int32{}
	for _, c := range cases {
		want[c.Name] = engineGreedy(t, path, c.Input, 48)
	}
	tcs := textCases(t, h.Tokenizer(), cases, want)
	b := startBrowser(t, chrome)
	nodes := formPipeline(t, ctx, b, h, "/node.html?swarm="+browserSwarm+"&token="+browserToken, "")
	t.Logf("3-stage pipeline ready after %v", time.Since(start).Round(time.Millisecond))
	chat := b.open("chat", h.URL+"/chat.html", false)
	chat.waitFor("the page's config", `window.chatState && chatState.model !== ""`, "", 30*time.Second)
	runCases(t, chat, tcs)
	checkNodes(t, nodes)

	// The Stop button ends a streaming generation early.
	n := chat.startChat(tcs[len(tcs)-1].prompt, 48)
	chat.waitFor("a few tokens", "chatState.chunks >= 3", "chatState.error", time.Minute)
	var clicked bool
	if err := chat.eval(`(document.getElementById("stop").click(), true)`, &clicked); err != nil {
		t.Fatal(err)
	}
	r := chat.waitChat(n, 10*time.Second)
	if r.Error != "" || r.Chunks >= 48 || r.Finish != "stopped" {
		t.Errorf("after Stop: %d chunks, finish %q, error %q: want fewer than 48, finish \"stopped\", no error", r.Chunks, r.Finish, r.Error)
	}
	t.Logf("Stop after %d tokens", r.Chunks)

	// A wrong token is refused, visibly (CPU device: a quick start).
	bad := b.open("node with a wrong token", h.URL+"/node.html?swarm="+browserSwarm+"&token=wrong-token-0123456789", true)
	bad.waitFor("a refusal", `tabshardState.error !== ""`, "", time.Minute)
	var banner struct{ Class, Text string }
	if err := bad.eval(`({Class: document.getElementById("banner").className, Text: document.getElementById("banner").textContent})`, &banner); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner.Class, "bad") || !strings.Contains(banner.Text, "refused") {
		t.Errorf("wrong token: banner %q (class %q): want a visible refusal", banner.Text, banner.Class)
	}
	t.Logf("wrong token shows: %s; whole test %v", banner.Text, time.Since(start).Round(time.Millisecond))
}

// TestBrowserSwarmF16: three node tabs (two on WebGPU/SwiftShader, one with
// WebGPU hidden, on the CPU fallback) form a pipeline for austen-22m F16;
// the chat page reproduces greedy_48 for the four reference cases; the
// dashboard shows the three stages; a reloaded tab takes no model bytes
// from the server; a page from an origin the server does not allow is
// refused visibly, one from an allowed origin joins and serves; closing a
// tab mid-generation changes nothing in the output.
func TestBrowserSwarmF16(t *testing.T) {
	chrome := requireBrowserEnv(t)
	path := testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf")
	cases := referenceCases(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	files := wasmFiles(t)
	allowed, refused := staticOrigin(t, files), staticOrigin(t, files)
	h := startHub(t, ctx, files, path, 3, allowed.URL)
	want := map[string][]int32{}
	for _, c := range cases {
		want[c.Name] = c.Greedy48
	}
	tcs := textCases(t, h.Tokenizer(), cases, want)
	b := startBrowser(t, chrome)
	q := "/node.html?swarm=" + browserSwarm + "&token=" + browserToken

	// 1, 2: three tabs, the third without WebGPU.
	nodes := formPipeline(t, ctx, b, h, q, "node-loading.png")
	t.Logf("3-stage pipeline ready after %v", time.Since(start).Round(time.Millisecond))

	dash := b.open("dashboard", h.URL+"/dashboard.html?swarm="+browserSwarm, false)
	dash.waitFor("three ready stages", `dashState.polls >= 3 && dashState.view && dashState.view.peers.filter(p => p.stage >= 0 && p.ready).length === 3`, "", 30*time.Second)

	chat := b.open("chat", h.URL+"/chat.html", false)
	chat.waitFor("the page's config", `window.chatState && chatState.model !== ""`, "", 30*time.Second)
	runCases(t, chat, tcs)
	chat.screenshot("chat-after-generation.png")
	dash.screenshot("dashboard-3-stages.png")

	// 7: heap and per-blob progress.
	checkNodes(t, nodes)

	// 5: a reload takes every blob from the browser's cache.
	served := h.BytesServed()
	if err := chromedp.Do(nodes[0].ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reloading node-1: %v", err)
	}
	s := nodes[0].waitServing(2 * time.Minute)
	waitPipeline(t, ctx, h, 3, time.Minute)
	if got := h.BytesServed() - served; got != 0 {
		t.Errorf("the reload took %d model bytes from the server, want 0", got)
	}
	if s.BlobsDone == 0 || s.BlobsCached != s.BlobsDone {
		t.Errorf("after the reload node-1 loaded %d blobs, %d of them from the cache: want all", s.BlobsDone, s.BlobsCached)
	}
	t.Logf("reload: %d blobs from Cache Storage, %d model bytes served (server total %d)", s.BlobsCached, h.BytesServed()-served, h.BytesServed())

	// 4: a page from an origin the server does not allow is refused, visibly.
	bad := b.open("node from a refused origin", refused.URL+q+"&server="+h.URL, false)
	bad.waitFor("a refusal", `tabshardState.error !== ""`, "", time.Minute)
	var banner struct {
		Class, Text string
	}
	if err := bad.eval(`({Class: document.getElementById("banner").className, Text: document.getElementById("banner").textContent})`, &banner); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner.Class, "bad") || !strings.Contains(banner.Text, "refused") || !strings.Contains(banner.Text, refused.URL) {
		t.Errorf("refused origin: banner %q (class %q): want a visible refusal naming the origin", banner.Text, banner.Class)
	}
	t.Logf("refused origin shows: %s", banner.Text)
	bad.screenshot("node-refused-origin.png")
	bad.close()

	// 3: closing a node tab mid-generation changes nothing in the output
	// (the swarm re-plans over the two tabs left; the client replays).
	c := tcs[len(tcs)-1]
	n := chat.startChat(c.prompt, 48)
	chat.waitFor("a few tokens", "chatState.chunks >= 6", "chatState.error", time.Minute)
	nodes[1].close()
	r := chat.waitChat(n, 3*time.Minute)
	if r.Error != "" {
		t.Errorf("%s after closing a tab mid-generation: %s", c.name, r.Error)
	} else if r.Text != c.want {
		t.Errorf("%s after closing a tab mid-generation:\n %q\nwant\n %q", c.name, r.Text, c.want)
	}
	t.Logf("closing a tab mid-generation: %s finished identically (%d chunks) after %v", c.name, r.Chunks, time.Since(start).Round(time.Millisecond))

	// 4: a page from an allowed origin joins, loads its layers cross-origin
	// (CORS) and serves in the re-planned pipeline.
	other := b.open("node-4 (allowed origin)", allowed.URL+q+"&server="+h.URL, false)
	t.Cleanup(func() {
		if t.Failed() {
			diagnoseCrossOrigin(t, other, h)
		}
	})
	other.waitServing(2 * time.Minute)
	waitPipeline(t, ctx, h, 3, time.Minute)
	t.Logf("3-stage pipeline with the cross-origin tab; whole test %v", time.Since(start).Round(time.Millisecond))
}
