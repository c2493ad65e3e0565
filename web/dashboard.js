// The dashboard: polls /api/swarm and shows which peer holds which layers,
// each stage's throughput and hop latency over time, sessions in flight and
// load progress. window.dashState keeps the last report for tests.
"use strict";

const colors = ["#2f6fdf", "#e07a1f", "#1f9d55", "#b0379b", "#c23a3a", "#0f8a8a", "#7a5cd6", "#8a6d1f"];
const history = []; // {t, byStage: {stage: {rate, hop}}, sessions}
const keep = 120;   // samples kept (two minutes at one a second)
const dash = {swarm: tabshard.params.get("swarm") || "", view: null, polls: 0, error: ""};
window.dashState = dash;

function stagePeers(view) {
  const peers = (view.peers || []).filter((p) => p.stage >= 0 && p.layers && p.layers.end > p.layers.start);
  peers.sort((a, b) => a.stage - b.stage);
  return peers;
}

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

function render(view) {
  const stages = stagePeers(view);
  const total = view.plan ? view.plan.total_layers : Math.max(0, ...stages.map((p) => p.layers.end));
  tabshard.set("planInfo", `· swarm ${view.name} · epoch ${view.epoch} · ${stages.length} stage${stages.length === 1 ? "" : "s"} · ${total || "?"} layers`);
  const strip = tabshard.el("strip");
  strip.replaceChildren(...stages.map((p) => {
    const d = document.createElement("div");
    d.style.flex = String(p.layers.end - p.layers.start);
    d.style.background = colors[p.stage % colors.length];
    d.textContent = `stage ${p.stage + 1}: layers ${p.layers.start}–${p.layers.end - 1} · ${p.id}${p.ready ? "" : " (loading)"}`;
    return d;
  }));
  if (!stages.length) {
    const d = document.createElement("div");
    d.style.flex = "1"; d.style.background = "#98a2b3"; d.textContent = "no plan yet: waiting for nodes";
    strip.append(d);
  }
  const nodes = (view.peers || []).filter((p) => p.role === "node");
  const sessions = stages.length ? Math.max(...stages.map((p) => (p.status && p.status.sessions) || 0)) : 0;
  const loaded = nodes.reduce((s, p) => s + ((p.status && p.status.loaded_bytes) || 0), 0);
  const toLoad = nodes.reduce((s, p) => s + ((p.status && p.status.total_bytes) || 0), 0);
  tabshard.kv(tabshard.el("totals"), [
    ["Nodes", String(nodes.length)],
    ["Clients", String((view.peers || []).length - nodes.length)],
    ["Ready stages", `${stages.filter((p) => p.ready).length} of ${stages.length}`],
    ["Sessions in flight", String(sessions)],
    ["Loading", toLoad ? `${tabshard.bytes(loaded)} of ${tabshard.bytes(toLoad)}` : "–"],
  ]);
  const body = tabshard.el("peers");
  body.replaceChildren(...(view.peers || []).map((p) => {
    const s = p.status || {};
    const c = p.capabilities || {};
    const tr = document.createElement("tr");
    const dev = c.backend ? c.backend + (c.adapter && c.adapter.description ? " · " + c.adapter.description : "") +
      (c.matvec_gbps ? ` · matvec ${tabshard.num(c.matvec_gbps * 1000, 0)} MB/s` : "") : "–";
    const layers = p.stage >= 0 && p.layers ? `[${p.layers.start}, ${p.layers.end}) · stage ${p.stage + 1}` : "–";
    tr.append(cell(p.id), cell(p.role), cell(dev), cell(layers), cell((s.state || "–") + (p.ready ? " ✓" : "") + (s.message ? " · " + s.message : "")));
    const load = document.createElement("td");
    if (s.total_bytes) {
      const bar = document.createElement("div"); bar.className = "bar small";
      const fill = document.createElement("div"); fill.style.width = (100 * s.loaded_bytes / s.total_bytes).toFixed(1) + "%";
      bar.append(fill); load.append(bar);
      load.title = `${tabshard.bytes(s.loaded_bytes)} of ${tabshard.bytes(s.total_bytes)}`;
    } else load.textContent = p.ready ? "loaded" : "–";
    tr.append(load, cell(s.heap_bytes ? tabshard.bytes(s.heap_bytes) : "–"), cell(tabshard.num(s.tokens_per_s)),
      cell(String(s.sessions || 0)), cell(s.busy ? (100 * s.busy).toFixed(0) + "%" : "–"),
      cell(s.hop_p50_ms ? `${tabshard.num(s.hop_p50_ms, 2)} / ${tabshard.num(s.hop_p99_ms, 2)} ms` : "–"));
    return tr;
  }));
  const byStage = {};
  for (const p of stages) {
    const s = p.status || {};
    byStage[p.stage] = {rate: s.tokens_per_s || 0, hop: s.hop_p50_ms || 0};
  }
  history.push({t: Date.now(), byStage, sessions});
  if (history.length > keep) history.shift();
  const stageIDs = [...new Set(history.flatMap((h) => Object.keys(h.byStage)))].map(Number).sort((a, b) => a - b);
  plot("plotRate", "legendRate", stageIDs, (h, s) => h.byStage[s] && h.byStage[s].rate);
  plot("plotHop", "legendHop", stageIDs, (h, s) => h.byStage[s] && h.byStage[s].hop);
  plot("plotSessions", null, [0], (h) => h.sessions);
}

// plot draws one polyline per series over the kept history, scaled to the
// largest value seen, with the maximum written in the corner.
function plot(svgID, legendID, series, value) {
  const svg = tabshard.el(svgID);
  const W = 600, H = 120, pad = 14;
  let maxV = 0;
  for (const h of history) for (const s of series) maxV = Math.max(maxV, value(h, s) || 0);
  const ns = "http://www.w3.org/2000/svg";
  const nodes = [];
  const grid = document.createElementNS(ns, "line");
  grid.setAttribute("x1", 0); grid.setAttribute("x2", W); grid.setAttribute("y1", H - pad); grid.setAttribute("y2", H - pad);
  grid.setAttribute("stroke", "#d0d5dd"); nodes.push(grid);
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", 4); label.setAttribute("y", 12); label.setAttribute("font-size", "11"); label.setAttribute("fill", "#667085");
  label.textContent = "max " + (maxV ? maxV.toFixed(2) : "0"); nodes.push(label);
  series.forEach((s, k) => {
    const pts = history.map((h, i) => {
      const x = history.length > 1 ? (W * i) / (keep - 1) : 0;
      const v = value(h, s) || 0;
      const y = H - pad - (maxV ? (v / maxV) * (H - 2 * pad) : 0);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colors[s % colors.length]);
    line.setAttribute("stroke-width", "2");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    nodes.push(line);
  });
  svg.replaceChildren(...nodes);
  if (legendID) {
    tabshard.el(legendID).replaceChildren(...series.map((s) => {
      const sp = document.createElement("span");
      const i = document.createElement("i"); i.style.background = colors[s % colors.length];
      sp.append(i, document.createTextNode("stage " + (s + 1)));
      return sp;
    }));
  }
}

async function poll() {
  try {
    if (!dash.swarm) dash.swarm = (await tabshard.config()).swarm;
    const r = await fetch("/api/swarm?swarm=" + encodeURIComponent(dash.swarm), {cache: "no-store"});
    if (!r.ok) throw new Error("/api/swarm answered " + r.status + " " + (await r.text()).trim());
    const rep = await r.json();
    const view = (rep.swarms || [])[0];
    if (!view) throw new Error("the server reports no swarm " + dash.swarm);
    dash.view = view; dash.polls++; dash.error = "";
    tabshard.el("banner").className = "banner hidden";
    render(view);
  } catch (e) {
    dash.error = e.message;
    tabshard.banner("banner", "bad", "Cannot read the swarm's status: " + e.message);
  }
}

poll();
setInterval(poll, 1000);
