// Shared helpers of the tabshard pages (no framework, no build step).
"use strict";

const tabshard = {
  // params are the page URL's query: swarm, token, server.
  params: new URLSearchParams(location.search),

  // config fetches the server's /api/config (same origin as the page).
  async config() {
    const r = await fetch("/api/config", {cache: "no-store"});
    if (!r.ok) throw new Error("/api/config answered " + r.status);
    return r.json();
  },

  bytes(n) {
    if (!Number.isFinite(n)) return "–";
    const u = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n.toFixed(0)) + " " + u[i];
  },

  num(x, digits = 1) { return Number.isFinite(x) ? x.toFixed(digits) : "–"; },

  el(id) { return document.getElementById(id); },

  // set fills the element with text (never HTML: values come from the network).
  set(id, text) { const e = document.getElementById(id); if (e) e.textContent = text; },

  // kv renders [label, value] rows into a container.
  kv(container, rows) {
    container.replaceChildren(...rows.map(([k, v]) => {
      const d = document.createElement("div");
      d.className = "kv";
      const a = document.createElement("span"); a.textContent = k;
      const b = document.createElement("span"); b.textContent = v;
      d.append(a, b);
      return d;
    }));
  },

  banner(id, cls, text) {
    const e = document.getElementById(id);
    e.className = "banner " + cls;
    e.textContent = text;
  },

  // query keeps swarm/token/server when linking between pages.
  keepQuery() {
    const q = new URLSearchParams();
    for (const k of ["swarm", "token", "server"]) if (this.params.get(k)) q.set(k, this.params.get(k));
    const s = q.toString();
    for (const a of document.querySelectorAll("header a[href$='.html']")) {
      if (s) a.href = a.getAttribute("href").split("?")[0] + "?" + s;
    }
  },
};
tabshard.keepQuery();
