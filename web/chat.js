// The chat page: streams /v1/completions (stream: true) through fetch and a
// ReadableStream reader, shows tokens as they arrive, and can stop.
// window.chatState keeps the last generation for people and for tests.
"use strict";

const chat = {
  apiBase: "/v1", model: "",
  running: false, controller: null,
  text: "", chunks: 0, finish: "", error: "", startedAt: 0, firstAt: 0, endedAt: 0, generations: 0,
};
window.chatState = chat;

const fields = ["temperature", "top_k", "top_p", "min_p", "repeat_penalty", "max_tokens", "seed"];
const ints = new Set(["top_k", "max_tokens", "seed"]);

// tokenPrompt matches a prompt typed as a JSON array of token ids, which is
// sent as OpenAI's token-array prompt (for prompts that have no exact text
// form, such as ones starting mid-word without BOS).
const tokenPrompt = /^\[\s*\d+(\s*,\s*\d+)*\s*\]$/;

function request() {
  const raw = tabshard.el("prompt").value;
  const body = {prompt: tokenPrompt.test(raw.trim()) ? JSON.parse(raw.trim()) : raw, stream: true};
  if (chat.model) body.model = chat.model;
  for (const f of fields) {
    const v = tabshard.el(f).value.trim();
    if (v === "") continue;
    const n = Number(v);
    if (!Number.isFinite(n) || (ints.has(f) && !Number.isInteger(n))) throw new Error(`${f}: ${JSON.stringify(v)} is not a valid number`);
    body[f] = n;
  }
  return body;
}

function showStats() {
  const end = chat.running ? performance.now() : chat.endedAt;
  const secs = chat.firstAt ? (end - chat.firstAt) / 1000 : 0;
  // The first token's latency is mostly the prompt; the rate counts the rest.
  const rate = secs > 0 && chat.chunks > 1 ? (chat.chunks - 1) / secs : 0;
  const ttft = chat.firstAt ? ((chat.firstAt - chat.startedAt) / 1000).toFixed(2) + " s to first token · " : "";
  tabshard.set("stats", `${chat.chunks} tokens · ${ttft}${rate ? rate.toFixed(1) + " tokens/s" : ""}${chat.finish ? " · finished: " + chat.finish : ""}`);
}

function done(finish, error) {
  chat.running = false; chat.finish = finish; chat.error = error || ""; chat.endedAt = performance.now();
  chat.generations++;
  tabshard.el("go").disabled = false;
  tabshard.el("stop").disabled = true;
  if (error) tabshard.banner("banner", "bad", error);
  showStats();
}

async function generate() {
  let body;
  try { body = request(); } catch (e) { tabshard.banner("banner", "bad", e.message); return; }
  tabshard.el("banner").className = "banner hidden";
  Object.assign(chat, {running: true, text: "", chunks: 0, finish: "", error: "", startedAt: performance.now(), firstAt: 0, endedAt: 0});
  chat.controller = new AbortController();
  tabshard.el("go").disabled = true;
  tabshard.el("stop").disabled = false;
  tabshard.set("outPrompt", typeof body.prompt === "string" ? body.prompt : "[tokens " + body.prompt.join(" ") + "] ");
  tabshard.set("outText", "");
  showStats();
  let resp;
  try {
    resp = await fetch(chat.apiBase + "/completions", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body), signal: chat.controller.signal,
    });
  } catch (e) {
    done("", e.name === "AbortError" ? "" : "request failed: " + e.message);
    return;
  }
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { const j = await resp.json(); if (j.error && j.error.message) msg = j.error.message; } catch (_) {}
    done("", "The server refused: " + msg);
    return;
  }
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", finish = "";
  try {
    for (;;) {
      const {value, done: end} = await reader.read();
      if (end) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i); buf = buf.slice(i + 2);
        for (const line of frame.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const msg = JSON.parse(data);
          if (msg.error) throw new Error(msg.error.message);
          const c = msg.choices && msg.choices[0];
          if (!c) continue;
          if (c.text) {
            if (!chat.firstAt) chat.firstAt = performance.now();
            chat.text += c.text; chat.chunks++;
            tabshard.el("outText").textContent = chat.text;
          }
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
      showStats();
    }
  } catch (e) {
    done(finish || "stopped", e.name === "AbortError" ? "" : "stream failed: " + e.message);
    return;
  }
  done(finish, "");
}

tabshard.el("go").onclick = () => { generate(); };
tabshard.el("stop").onclick = () => { if (chat.controller) chat.controller.abort(); };

tabshard.config().then((c) => {
  chat.apiBase = c.api_base || "/v1"; chat.model = c.model || "";
  tabshard.set("model", "· " + chat.model);
}).catch((e) => tabshard.banner("banner", "bad", "Cannot read the server's configuration: " + e.message));
