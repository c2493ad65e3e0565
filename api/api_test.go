package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/api"
	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/pipeline"
	"github.com/tabshard/tabshard/shard"
)

// server serves the API over a real two-stage in-process pipeline of
// austen-22m.
func server(t *testing.T) (*httptest.Server, func(prompt string, n int) string) {
	t.Helper()
	src, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := model.TokenizerFromGGUF(src.Meta)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := cpu.New(0)
	var stages []*shard.Stage
	for _, p := range []model.Part{{First: 0, Last: 4}, {First: 4, Last: 8}} {
		st, err := shard.NewStage(dev, src, cfg, p, shard.StageConfig{Slots: 4, Context: 256, MaxBatch: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Release)
		stages = append(stages, st)
	}
	local, err := pipeline.StartLocal(stages, cfg, tok.EOS(), pipeline.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Stop() })
	h, err := api.NewHandler(api.Config{ModelID: "austen-22m", Tokenizer: tok, Context: 256, Generator: local, MaxTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	// greedy is the single-process engine's greedy continuation, as text.
	greedy := func(prompt string, n int) string {
		e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{Context: 256})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		dec := tok.ContinueStream()
		var b strings.Builder
		err = e.Generate(context.Background(), tok.Encode(prompt, true), n, tok.EOS(), model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
			b.WriteString(dec.Next(id))
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	return hs, greedy
}

func post(t *testing.T, url, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %s, undecodable body: %v", resp.Status, err)
	}
	return resp, out
}

func TestCompletionGreedyMatchesReferenceText(t *testing.T) {
	hs, greedy := server(t)
	resp, out := post(t, hs.URL+"/v1/completions", `{"model":"austen-22m","prompt":"Once upon a time,","max_tokens":12,"temperature":0}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, out)
	}
	choice := out["choices"].([]any)[0].(map[string]any)
	text := choice["text"].(string)
	if choice["finish_reason"] != "length" || text == "" {
		t.Fatalf("choice %v", choice)
	}
	usage := out["usage"].(map[string]any)
	if usage["completion_tokens"].(float64) != 12 || usage["prompt_tokens"].(float64) != 6 {
		t.Errorf("usage %v", usage)
	}
	if want := greedy("Once upon a time,", 12); text != want {
		t.Errorf("greedy text %q, the engine says %q", text, want)
	}
}

// A prompt of token ids runs exactly those ids (no BOS added): BOS alone
// is a prompt no text can express.
func TestTokenIDPrompt(t *testing.T) {
	hs, greedy := server(t)
	text := `{"prompt":[1,9038,2501,263,931,29892],"max_tokens":12,"temperature":0}`
	_, out := post(t, hs.URL+"/v1/completions", text)
	got := out["choices"].([]any)[0].(map[string]any)["text"]
	if want := greedy("Once upon a time,", 12); got != want {
		t.Errorf("ids prompt gave %q, text prompt %q", got, want)
	}
	resp, out := post(t, hs.URL+"/v1/completions", `{"prompt":[1],"max_tokens":4,"temperature":0}`)
	if resp.StatusCode != 200 {
		t.Errorf("BOS-only prompt: %d %v", resp.StatusCode, out)
	}
	for _, bad := range []string{`{"prompt":[40000]}`, `{"prompt":[-1]}`, `{"prompt":[]}`, `{"prompt":{"a":1}}`} {
		if resp, out := post(t, hs.URL+"/v1/completions", bad); resp.StatusCode != 400 {
			t.Errorf("%s: %d %v", bad, resp.StatusCode, out)
		}
	}
}

func TestChatStreamingAndStop(t *testing.T) {
	hs, greedy := server(t)
	// Stop at the third word of the engine's own continuation.
	full := greedy("Once upon a time,", 40)
	words := strings.Fields(full)
	stop := words[2]
	want := full[:strings.Index(full, stop)]
	body := `{"messages":[{"role":"user","content":"Once upon a time,"}],"max_tokens":40,"temperature":0,"stream":true,"stop":"` + stop + `"}`
	resp, err := http.Post(hs.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var text strings.Builder
	var finish any
	done := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		data := strings.TrimPrefix(line, "data: ")
		if data == "[DONE]" {
			done = true
			break
		}
		var chunk map[string]any
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatal(err)
		}
		c := chunk["choices"].([]any)[0].(map[string]any)
		if d, ok := c["delta"].(map[string]any)["content"].(string); ok {
			text.WriteString(d)
		}
		if c["finish_reason"] != nil {
			finish = c["finish_reason"]
		}
	}
	if !done || finish != "stop" {
		t.Fatalf("stream ended without [DONE] or stop: done=%v finish=%v", done, finish)
	}
	if got := text.String(); got != want {
		t.Errorf("text before the stop sequence %q: %q, want %q", stop, got, want)
	}
}

func TestBadRequestsAreRefused(t *testing.T) {
	hs, _ := server(t)
	for _, c := range []struct{ path, body, param string }{
		{"/v1/completions", `{"prompt":"x","temperature":-1}`, "temperature"},
		{"/v1/completions", `{"prompt":"x","top_p":0}`, "top_p"},
		{"/v1/completions", `{"prompt":"x","max_tokens":100000}`, "max_tokens"},
		{"/v1/completions", `{"prompt":""}`, "prompt"},
		{"/v1/completions", `{"prompt":"x","n":3}`, "n"},
		{"/v1/completions", `{"prompt":"x","bogus":1}`, ""},
		{"/v1/completions", `{"prompt":"x"} trailing`, ""},
		{"/v1/completions", `{"prompt":"` + strings.Repeat("word ", 400) + `"}`, "prompt"},
		{"/v1/chat/completions", `{"messages":[]}`, "messages"},
		{"/v1/chat/completions", `{"messages":[{"role":"robot","content":"x"}]}`, "messages"},
		{"/v1/completions", `{"prompt":"x","stop":["a","b","c","d","e"]}`, "stop"},
	} {
		resp, out := post(t, hs.URL+c.path, c.body)
		e, _ := out["error"].(map[string]any)
		if resp.StatusCode != 400 || e == nil {
			t.Errorf("%s %s: status %d body %v", c.path, c.body, resp.StatusCode, out)
			continue
		}
		if c.param != "" && e["param"] != c.param {
			t.Errorf("%s: error param %v, want %s (%v)", c.body, e["param"], c.param, e["message"])
		}
	}
	resp, out := post(t, hs.URL+"/v1/completions", `{"model":"gpt-4","prompt":"x"}`)
	if resp.StatusCode != 404 {
		t.Errorf("unknown model: status %d %v", resp.StatusCode, out)
	}
	// The server still serves after all that.
	resp, out = post(t, hs.URL+"/v1/completions", `{"prompt":"The","max_tokens":2}`)
	if resp.StatusCode != 200 {
		t.Errorf("after bad requests: %d %v", resp.StatusCode, out)
	}
}
