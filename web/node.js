// The node page: loads dist/node.wasm (cmd/wasmnode) and renders the events
// it sends through window.tabshardEvent. window.tabshardState keeps the
// latest state for people and for the browser tests.
"use strict";

const state = {
  phase: "starting",       // starting, detecting, measuring, joined, loading, serving, failed, missing
  peer: "", swarm: tabshard.params.get("swarm") || "", server: tabshard.params.get("server") || location.origin,
  backend: "", device: "", detect: null, caps: null,
  layers: null,            // [first, last)
  stage: "",               // "1 of 3"
  load: {done: 0, total: 0},
  blobs: {},               // name -> {done, total, cached, events}
  blobEvents: 0,           // progress events received (at least one per blob)
  blobsDone: 0, blobsCached: 0,
  heap: 0, heapPeak: 0, heapPeakLoaded: 0, heapSys: 0,
  error: "", log: [],
  times: {},               // milestone -> seconds since the page started
};
window.tabshardState = state;

function logLine(level, msg) {
  const line = new Date().toISOString().slice(11, 23) + " " + level + " " + msg;
  state.log.push(line);
  if (state.log.length > 400) state.log.shift();
  const pre = tabshard.el("log");
  pre.textContent = state.log.join("\n");
  pre.scrollTop = pre.scrollHeight;
}

function fail(msg) {
  state.phase = state.phase === "missing" ? "missing" : "failed";
  state.error = msg;
  tabshard.banner("banner", "bad", msg);
  logLine("ERROR", msg);
  render();
}

function render() {
  const d = state.detect;
  tabshard.kv(tabshard.el("summary"), [
    ["State", state.phase],
    ["Peer", state.peer || "–"],
    ["Swarm", state.swarm || "(server default)"],
    ["Server", state.server],
    ["Device", state.device || "–"],
    ["Backend", state.backend || "–"],
    ["Go heap in use", tabshard.bytes(state.heap)],
    ["Go heap peak", tabshard.bytes(state.heapPeak)],
  ]);
  tabshard.kv(tabshard.el("assignment"), [
    ["Layers", state.layers ? `[${state.layers[0]}, ${state.layers[1]})` : "–"],
    ["Stage", state.stage || "–"],
    ["Blobs loaded", `${state.blobsDone} (${state.blobsCached} from the browser cache)`],
    ["Progress events", String(state.blobEvents)],
  ]);
  const rows = [];
  if (d) {
    rows.push(["WebGPU", d.webgpu ? (d.adapter ? "adapter found" : "no adapter") : "not available"]);
    if (d.adapter) {
      rows.push(["Vendor", d.vendor || "–"], ["Architecture", d.architecture || "–"],
        ["Device", d.device || "–"], ["Description", d.description || "–"],
        ["Software adapter", d.fallback ? "yes" : "no"]);
      for (const [k, v] of Object.entries(d.limits || {})) rows.push([k, k.endsWith("Size") ? tabshard.bytes(v) : String(v)]);
      rows.push(["Features", (d.features || []).join(", ") || "–"]);
    } else if (d.reason) {
      rows.push(["Why not", d.reason]);
    }
    rows.push(["navigator.deviceMemory", d.device_memory ? d.device_memory + " GiB" : "hidden"],
      ["hardwareConcurrency", String(d.cores || "–")]);
  }
  if (state.caps) {
    const c = state.caps;
    rows.push(["Measured matvec (Q4_K)", tabshard.num(c.matvec_gbps * 1000, 1) + " MB/s"],
      ["Measured matmul", tabshard.num(c.matmul_gflops, 2) + " GFLOP/s"],
      ["Memory offered", tabshard.bytes(c.memory_budget_bytes)]);
  }
  tabshard.kv(tabshard.el("adapter"), rows);
  const pct = state.load.total ? 100 * state.load.done / state.load.total : (state.phase === "serving" ? 100 : 0);
  tabshard.el("loadBar").style.width = pct.toFixed(1) + "%";
  if (state.load.total) {
    tabshard.set("loadText", `${tabshard.bytes(state.load.done)} of ${tabshard.bytes(state.load.total)} (${pct.toFixed(0)}%)` +
      (state.phase === "serving" ? " · on the device, serving" : ""));
  }
  const body = tabshard.el("blobs");
  body.replaceChildren(...Object.entries(state.blobs).map(([name, b]) => {
    const tr = document.createElement("tr");
    const cells = [name, null, `${tabshard.bytes(b.done)} / ${tabshard.bytes(b.total)}`, b.cached ? "browser cache" : "network"];
    for (const c of cells) {
      const td = document.createElement("td");
      if (c === null) {
        const bar = document.createElement("div"); bar.className = "bar small";
        const fill = document.createElement("div"); fill.style.width = (100 * b.done / b.total).toFixed(1) + "%";
        bar.append(fill); td.append(bar); td.style.width = "40%";
      } else td.textContent = c;
      tr.append(td);
    }
    return tr;
  }));
}

// Throttle DOM work: progress events can come hundreds a second.
let pending = false;
function renderSoon() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

// mark records when a milestone was first reached (shown in the log too).
function mark(name) {
  if (state.times[name] !== undefined) return;
  state.times[name] = +(performance.now() / 1000).toFixed(2);
  logLine("INFO", `${name} at ${state.times[name]} s`);
}

function onEvent(json) {
  const ev = JSON.parse(json);
  if (["detect", "device", "measure", "assign", "fetched"].includes(ev.kind)) mark(ev.kind);
  switch (ev.kind) {
    case "detect":
      state.detect = ev.detect; state.phase = "measuring";
      tabshard.banner("banner", "info", ev.detect.adapter ? "WebGPU adapter found; measuring the device…" : "No WebGPU adapter: using the CPU fallback (Go-wasm). Measuring…");
      break;
    case "device":
      state.device = ev.msg; state.backend = ev.attrs.backend;
      logLine("INFO", "device " + ev.msg + (ev.attrs.reason ? " (" + ev.attrs.reason + ")" : ""));
      break;
    case "measure":
      state.caps = ev.caps;
      break;
    case "assign":
      state.layers = [ev.done || 0, ev.total || 0]; state.phase = "loading";
      state.load = {done: 0, total: 0};
      tabshard.banner("banner", "info", `Loading layers [${state.layers[0]}, ${state.layers[1]})…`);
      break;
    case "load":
      state.load = {done: ev.done || 0, total: ev.total || 0};
      break;
    case "blob": {
      const b = state.blobs[ev.blob] || (state.blobs[ev.blob] = {done: 0, total: ev.total, cached: false, events: 0});
      const wasDone = b.done === b.total && b.events > 0;
      b.done = ev.done || 0; b.total = ev.total || 0; b.cached = !!ev.cached; b.events++;
      state.blobEvents++;
      if (!wasDone && b.done === b.total) { state.blobsDone++; if (b.cached) state.blobsCached++; }
      break;
    }
    case "heap":
      state.heap = ev.heap_inuse || 0; state.heapSys = ev.heap_sys || 0;
      state.heapPeak = Math.max(state.heapPeak, state.heap);
      if (state.phase === "serving") state.heapPeakLoaded = Math.max(state.heapPeakLoaded, state.heap);
      break;
    case "log":
      onLog(ev);
      break;
    case "fatal":
      fail(ev.msg);
      return;
  }
  renderSoon();
}

function onLog(ev) {
  const a = ev.attrs || {};
  if (a.node) state.peer = a.node;
  const extra = Object.entries(a).filter(([k]) => k !== "node").map(([k, v]) => k + "=" + v).join(" ");
  logLine(ev.level, ev.msg + (extra ? " " + extra : ""));
  switch (ev.msg) {
    case "joined":
      mark("joined");
      state.phase = "joined"; state.swarm = a.swarm || state.swarm;
      tabshard.banner("banner", "info", `Joined swarm ${state.swarm} as ${state.peer}; waiting for an assignment.`);
      break;
    case "serving": {
      mark("serving");
      state.phase = "serving";
      const m = /^\[(\d+),(\d+)\)$/.exec(a.layers || "");
      if (m) state.layers = [+m[1], +m[2]];
      state.stage = `${+a.stage + 1} of ${a.of}`;
      tabshard.banner("banner", "ok", `Serving layers ${a.layers} as stage ${state.stage}.`);
      break;
    }
    case "assignment failed":
      tabshard.banner("banner", "bad", "Assignment failed: " + (a.err || ""));
      break;
    case "server error":
      tabshard.banner("banner", "bad", `The server refused: ${a.msg || ""} (${a.code || ""})`);
      break;
  }
}
window.tabshardEvent = onEvent;

// loadScript resolves when a classic script has run.
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src; s.onload = resolve; s.onerror = () => reject(new Error(src + " could not be loaded"));
    document.head.append(s);
  });
}

const notBuilt = "The wasm node is not built into this server: run `go generate ./web` in the tabshard repository, then rebuild the server (cmd/signal or tabshard).";

async function start() {
  render();
  const wasm = await fetch("dist/node.wasm");
  if (!wasm.ok) {
    state.phase = "missing";
    fail(wasm.status === 404 ? notBuilt : `dist/node.wasm answered ${wasm.status}`);
    return;
  }
  try {
    await loadScript("dist/wasm_exec.js");
  } catch (e) {
    state.phase = "missing";
    fail(notBuilt);
    return;
  }
  const go = new Go();
  const {instance} = await WebAssembly.instantiate(await wasm.arrayBuffer(), go.importObject);
  mark("wasm started");
  state.phase = "detecting";
  tabshard.banner("banner", "info", "Detecting WebGPU…");
  go.run(instance).then(() => {
    if (!state.error) fail("The node stopped.");
  });
}

start().catch((e) => fail("Starting the node failed: " + e));
