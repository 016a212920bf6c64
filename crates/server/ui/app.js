// Vantage web UI: one page per kind, drawn from the JSON API. Plots are SVG built here
// (no library, no build step, no network beyond this server). Each page sets
// main[data-ready] to "yes" once its tables and plots are drawn, for the browser test.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
const COLORS = ["#1f6feb", "#e36209", "#2e7d32", "#8e44ad", "#c0392b", "#16a085", "#d4a106", "#5d6d7e"];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick" || k === "onchange" || k === "oninput" || k === "onsubmit") el[k] = v;
    else if (v !== null && v !== undefined) el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

async function api(path) {
  const r = await fetch(path);
  const text = await r.text();
  let body;
  // Integers beyond 2^53 (netstate DP ids, 64-bit counters) would lose digits as JS
  // numbers: they are read as strings of digits instead.
  const big = (m, pre, d) => (Math.abs(Number(d)) > Number.MAX_SAFE_INTEGER ? `${pre}"${d}"` : m);
  try { body = JSON.parse(text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, big)); } catch { body = text; }
  if (!r.ok) {
    const msg = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${r.status}`;
    throw new Error(msg);
  }
  return body;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0; let x = Number(n);
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return `${x.toFixed(i ? 1 : 0)} ${u[i]}`;
}
const fmtNum = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en-US"));
const usToIso = (us) => (us === null || us === undefined ? "" : new Date(us / 1000).toISOString().replace(".000Z", "Z"));

function table(columns, rows, opts = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.label)));
  const body = rows.map((r) => {
    const tr = h("tr", { class: opts.onclick ? "click" : null },
      columns.map((c) => {
        const v = c.get(r);
        return h("td", { class: [c.num ? "num" : "", c.cls ? c.cls(r) : ""].join(" ").trim() || null }, v instanceof Node ? v : String(v ?? ""));
      }));
    if (opts.onclick) tr.onclick = () => opts.onclick(r);
    return tr;
  });
  if (!rows.length) body.push(h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, opts.empty || "nothing yet")));
  return h("table", { class: opts.cls || null }, h("thead", {}, head), h("tbody", {}, body));
}

// --- SVG plots ---------------------------------------------------------------------
const SVGNS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// Horizontal bars: items [{label, values:[...]}], series names; stacked.
function barChart(items, series, fmt = fmtNum) {
  const W = 560, row = 22, left = 150, right = 80, top = 8;
  const H = top + items.length * row + 24;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "plot bar" });
  const max = niceMax(Math.max(1, ...items.map((it) => it.values.reduce((a, b) => a + b, 0))));
  const x = (v) => left + (v / max) * (W - left - right);
  for (let t = 0; t <= 4; t++) {
    const xv = x((max * t) / 4);
    svg.append(s("line", { x1: xv, x2: xv, y1: top, y2: H - 20, class: "grid" }));
    svg.append(s("text", { x: xv, y: H - 6, "text-anchor": "middle" }, fmt((max * t) / 4)));
  }
  items.forEach((it, i) => {
    const y = top + i * row;
    const label = it.label.length > 24 ? it.label.slice(0, 23) + "…" : it.label;
    svg.append(s("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, label));
    let acc = 0;
    it.values.forEach((v, j) => {
      if (v > 0) svg.append(s("rect", { x: x(acc), y: y + 3, width: Math.max(1, x(acc + v) - x(acc)), height: row - 7, fill: COLORS[j % COLORS.length] }));
      acc += v;
    });
    svg.append(s("text", { x: x(acc) + 4, y: y + 15 }, fmt(acc)));
  });
  return h("div", {}, legend(series), svg);
}

// Lines over time: series [{name, points:[[tMillis, y]]}].
function lineChart(series, fmt = fmtNum, opts = {}) {
  const W = opts.width || 1100, H = opts.height || 280, left = 70, right = 16, top = 10, bottom = 28;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "plot line" });
  const pts = series.flatMap((x) => x.points);
  if (!pts.length) return h("p", { class: "muted" }, "no data in this range");
  let t0 = Math.min(...pts.map((p) => p[0])), t1 = Math.max(...pts.map((p) => p[0]));
  if (t1 === t0) t1 = t0 + 3600e3;
  const max = niceMax(Math.max(...pts.map((p) => p[1])));
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const y = (v) => H - bottom - (v / max) * (H - top - bottom);
  for (let k = 0; k <= 4; k++) {
    const yv = y((max * k) / 4);
    svg.append(s("line", { x1: left, x2: W - right, y1: yv, y2: yv, class: "grid" }));
    svg.append(s("text", { x: left - 6, y: yv + 4, "text-anchor": "end" }, fmt((max * k) / 4)));
  }
  const ticks = W > 700 ? 5 : 3;
  const tfmt = opts.timeFormat || ((t) => new Date(t).toISOString().slice(0, 16).replace("T", " "));
  for (let k = 0; k <= ticks; k++) {
    const t = t0 + ((t1 - t0) * k) / ticks;
    const anchor = k === 0 ? "start" : k === ticks ? "end" : "middle";
    svg.append(s("text", { x: x(t), y: H - 8, "text-anchor": anchor }, tfmt(t)));
  }
  if (opts.marker !== undefined) {
    svg.append(s("line", { x1: x(opts.marker), x2: x(opts.marker), y1: top, y2: H - bottom, stroke: "#b3261e", "stroke-dasharray": "4 3" }));
  }
  svg.append(s("line", { x1: left, x2: W - right, y1: H - bottom, y2: H - bottom, class: "axis" }));
  series.forEach((ser, i) => {
    const p = ser.points.slice().sort((a, b) => a[0] - b[0]);
    const d = p.map((q, j) => `${j ? "L" : "M"}${x(q[0]).toFixed(1)},${y(q[1]).toFixed(1)}`).join(" ");
    svg.append(s("path", { d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2, "stroke-linejoin": "round" }));
    if (p.length <= 120) for (const q of p) svg.append(s("circle", { cx: x(q[0]), cy: y(q[1]), r: 2.5, fill: COLORS[i % COLORS.length] }));
  });
  return h("div", {}, legend(series.map((x) => x.name)), svg);
}

function legend(names) {
  return h("div", { class: "legend" }, names.map((n, i) => h("span", {}, h("i", { style: `background:${COLORS[i % COLORS.length]}` }), n)));
}

function card(title, ...body) {
  return h("div", { class: "card" }, h("h3", {}, title), ...body);
}

function errorBox(e) {
  return h("p", { class: "bad" }, String(e.message || e));
}

// --- pages -------------------------------------------------------------------------
const pages = {};

pages.overview = async (root) => {
  const [st, health] = await Promise.all([api("/api/v1/status"), api("/healthz")]);
  const kinds = st.kinds || [];
  const total = (f) => kinds.reduce((a, k) => a + (k[f] || 0), 0);
  root.append(h("h2", {}, "Overview"),
    h("div", { class: "kpi" },
      h("div", {}, h("b", {}, fmtNum(total("arrivals"))), "arrivals"),
      h("div", {}, h("b", {}, fmtBytes(total("arrival_bytes"))), "arrived"),
      h("div", {}, h("b", {}, fmtNum(total("pending"))), "partitions pending"),
      h("div", {}, h("b", { class: total("failed") + total("quarantined") ? "bad" : "ok" }, fmtNum(total("failed") + total("quarantined"))), "errors"),
      h("div", {}, h("b", { class: "ok" }, health.status), `server ${health.version}`)),
    card("Every kind (what arrived, what is pending, errors)",
      table([
        { label: "kind", get: (k) => h("a", { href: `#${k.kind}` }, k.kind) },
        { label: "arrivals", num: 1, get: (k) => fmtNum(k.arrivals) },
        { label: "bytes", num: 1, get: (k) => fmtBytes(k.arrival_bytes) },
        { label: "cans", num: 1, get: (k) => fmtNum(k.cans) },
        { label: "can bytes", num: 1, get: (k) => fmtBytes(k.can_bytes) },
        { label: "pending", num: 1, get: (k) => fmtNum(k.pending) },
        { label: "done", num: 1, get: (k) => fmtNum(k.done) },
        { label: "failed", num: 1, get: (k) => fmtNum(k.failed), cls: (k) => (k.failed ? "bad" : "") },
        { label: "waiting", num: 1, get: (k) => fmtNum(k.waiting) },
        { label: "quarantined", num: 1, get: (k) => fmtNum(k.quarantined), cls: (k) => (k.quarantined ? "bad" : "") },
        { label: "last error", get: (k) => k.last_error || "" },
      ], kinds, { cls: "status" })),
    h("p", { class: "muted" }, `warehouse: ${st.warehouse}`));
};

pages.reports = async (root) => {
  root.append(h("h2", {}, "Reports (OONI)"));
  const [byCc, byInput, list] = await Promise.all([
    api("/api/v1/reports/aggregation?axis_x=probe_cc"),
    api("/api/v1/reports/aggregation?axis_x=input"),
    api("/api/v1/reports/measurements?limit=25"),
  ]);
  const cc = byCc.result.slice().sort((a, b) => b.measurement_count - a.measurement_count);
  const blocked = byInput.result
    .filter((r) => r.input)
    .map((r) => ({ ...r, blocked: r.confirmed_count + r.anomaly_count }))
    .sort((a, b) => b.blocked - a.blocked || b.measurement_count - a.measurement_count)
    .slice(0, 12);
  const full = h("div", {}, h("p", { class: "muted" }, "Click a measurement to see it in full."));
  const show = async (m) => {
    full.replaceChildren(h("p", { class: "muted" }, `loading ${m.measurement_uid}…`));
    try {
      const r = await fetch(m.measurement_url);
      const text = await r.text();
      let pretty = text;
      try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as sent */ }
      full.replaceChildren(h("p", {}, h("b", {}, m.measurement_uid), ` — ${m.test_name}, ${m.probe_cc} ${m.probe_asn}`), h("pre", { class: "measurement" }, pretty));
    } catch (e) { full.replaceChildren(errorBox(e)); }
  };
  root.append(h("div", { class: "grid" },
    card("Anomalies by country",
      table([
        { label: "country", get: (r) => r.probe_cc },
        { label: "measurements", num: 1, get: (r) => fmtNum(r.measurement_count) },
        { label: "anomalies", num: 1, get: (r) => fmtNum(r.anomaly_count), cls: (r) => (r.anomaly_count ? "bad" : "") },
        { label: "confirmed", num: 1, get: (r) => fmtNum(r.confirmed_count), cls: (r) => (r.confirmed_count ? "bad" : "") },
        { label: "failures", num: 1, get: (r) => fmtNum(r.failure_count) },
        { label: "ok", num: 1, get: (r) => fmtNum(r.ok_count) },
      ], cc),
      barChart(cc.map((r) => ({ label: r.probe_cc, values: [r.ok_count, r.anomaly_count, r.confirmed_count, r.failure_count] })),
        ["ok", "anomaly", "confirmed", "failure"])),
    card("Top blocked inputs (confirmed + anomalies)",
      table([
        { label: "input", get: (r) => r.input },
        { label: "blocked", num: 1, get: (r) => fmtNum(r.blocked), cls: (r) => (r.blocked ? "bad" : "") },
        { label: "confirmed", num: 1, get: (r) => fmtNum(r.confirmed_count) },
        { label: "measurements", num: 1, get: (r) => fmtNum(r.measurement_count) },
      ], blocked, { empty: "no inputs known yet (centrifugation fills them)" }))),
    h("div", { class: "grid", style: "margin-top:16px" },
      card(`Latest measurements (${fmtNum(list.metadata.count)} in all)`,
        table([
          { label: "uid", get: (m) => m.measurement_uid.slice(0, 14) + "…" },
          { label: "test", get: (m) => m.test_name },
          { label: "cc", get: (m) => m.probe_cc },
          { label: "asn", get: (m) => m.probe_asn },
          { label: "start (UTC)", get: (m) => m.measurement_start_time.slice(0, 16).replace("T", " ") },
          { label: "anomaly", get: (m) => (m.anomaly === null ? "–" : m.anomaly ? "yes" : "no"), cls: (m) => (m.anomaly ? "bad" : "") },
        ], list.results, { onclick: show })),
      card("One measurement in full", full)));
  if (list.results.length) await show(list.results[0]);
};

pages.passive = async (root) => {
  root.append(h("h2", {}, "Passive (Bismark routers)"));
  // Per hour, as the spec's tables are read; when the data span fewer than three hours
  // an hourly plot is a column of dots, so the minute tables are plotted instead.
  let g = "hour";
  let [hours, domains, nodes] = await Promise.all([
    api("/api/v1/passive/bytes?by=total&granularity=hour&limit=100000"),
    api("/api/v1/passive/bytes?by=domain&granularity=hour&limit=100000"),
    api("/api/v1/passive/nodes"),
  ]);
  if (new Set(hours.rows.map((r) => r.hour)).size < 3) {
    g = "minute";
    [hours, domains] = await Promise.all([
      api("/api/v1/passive/bytes?by=total&granularity=minute&limit=100000"),
      api("/api/v1/passive/bytes?by=domain&granularity=minute&limit=100000"),
    ]);
  }
  const note = g === "hour" ? "" : " (per minute: the data span less than three hours)";
  const short = (n) => (n || "").slice(0, 10);
  const perNode = new Map();
  for (const r of hours.rows) {
    if (!perNode.has(r.node_id)) perNode.set(r.node_id, []);
    perNode.get(r.node_id).push([r[g] * 1000, r.bytes]);
  }
  const series = [...perNode.entries()].map(([n, p]) => ({ name: `router ${short(n)}`, points: p }));
  const dom = new Map();
  for (const r of domains.rows) dom.set(r.domain, (dom.get(r.domain) || 0) + r.bytes);
  const topDomains = [...dom.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15);
  // Per domain over time: the five largest domains, summed over routers.
  const top5 = new Set(topDomains.slice(0, 5).map((d) => d[0]));
  const perDom = new Map();
  for (const r of domains.rows) {
    if (!top5.has(r.domain)) continue;
    const m = perDom.get(r.domain) || new Map();
    m.set(r[g], (m.get(r[g]) || 0) + r.bytes);
    perDom.set(r.domain, m);
  }
  const domSeries = [...perDom.entries()].map(([d, m]) => ({ name: d, points: [...m.entries()].map(([t, b]) => [t * 1000, b]) }));
  const hm = (t) => new Date(t).toISOString().slice(11, 16);
  root.append(
    card(`Bytes per ${g} per router${note}`, lineChart(series, fmtBytes)),
    h("div", { class: "grid", style: "margin-top:16px" },
      card("Bytes per domain (whole span)", barChart(topDomains.map(([d, b]) => ({ label: d, values: [b] })), ["bytes"], fmtBytes)),
      card(`Bytes per ${g} per domain (top 5)`, lineChart(domSeries, fmtBytes, { width: 560, height: 300, timeFormat: hm }))),
    h("div", { class: "grid", style: "margin-top:16px" },
      card(`Routers (${nodes.nodes.length})`, table([
        { label: "router (pseudonym)", get: (n) => short(n) + "…" },
        { label: "bytes", num: 1, get: (n) => fmtBytes((perNode.get(n) || []).reduce((a, p) => a + p[1], 0)) },
      ], nodes.nodes))));
};

pages.netstate = async (root) => {
  root.append(h("h2", {}, "Netstate (NOX data warehouse)"));
  const info = await api("/api/v1/netstate/tables");
  const tables = info.tables.filter((t) => t.kind === "state").map((t) => t.name);
  if (info.earliest === null || !tables.length) {
    root.append(card("Network state", h("p", { class: "muted" }, "nothing imported yet")));
    return;
  }
  const pick = h("select", {}, tables.map((t) => h("option", { value: t, selected: t === "LLDP_LINKS" ? "selected" : null }, t)));
  const lo = info.earliest, hi = info.latest;
  const slider = h("input", { type: "range", min: 0, max: 1000, value: 500 });
  const when = h("b", {});
  const plotBox = h("div", {});
  const stateBox = h("div", {});
  const changesBox = h("div", {});
  let previous = null;
  let history = null; // [[t, alive]] of the chosen table over the whole range
  const tAt = () => Math.round(lo + ((hi - lo) * Number(slider.value)) / 1000);
  const origin = (o) => o.replace(/^([^/]+)\/([A-Z0-9_]+)-.*:(\d+)$/, "$1 $2…:$3");
  const rowText = (r) => {
    const t = Object.entries(r.values).slice(0, 4).map(([k, v]) => `${k}=${fmtValue(v)}`).join(" ");
    return t.length > 64 ? t.slice(0, 63) + "…" : t;
  };
  // Rows alive over time: the state at the start plus every change, when not too many.
  const loadHistory = async (table_) => {
    history = null;
    try {
      const [start, ch] = await Promise.all([
        api(`/api/v1/netstate/at?table=${table_}&t=${lo}`),
        api(`/api/v1/netstate/changes?tables=${table_}&from=${lo}&to=${hi}`),
      ]);
      if (ch.changes.length > 50000) return;
      let alive = start.rows.length;
      history = [[lo / 1000, alive]];
      for (const c of ch.changes) {
        alive += c.kind === "open" ? 1 : -1;
        history.push([c.time / 1000, alive]);
      }
    } catch { history = null; }
  };
  const drawPlot = (t) => {
    plotBox.replaceChildren(history
      ? lineChart([{ name: `${pick.value} rows alive`, points: history }], fmtNum,
        { height: 200, marker: t / 1000, timeFormat: (x) => new Date(x).toISOString().slice(11, 23) })
      : h("p", { class: "muted" }, "too many changes to plot; the slider still works"));
  };
  const draw = async () => {
    const t = tAt();
    when.textContent = `${usToIso(t)} (${t} µs)`;
    drawPlot(t);
    const table_ = pick.value;
    const from = previous === null || previous === t ? Math.max(lo, t - Math.round((hi - lo) / 20)) : Math.min(previous, t);
    const to = previous === null || previous === t ? t : Math.max(previous, t);
    previous = t;
    try {
      const [at, ch] = await Promise.all([
        api(`/api/v1/netstate/at?table=${table_}&t=${t}`),
        api(`/api/v1/netstate/changes?tables=${table_}&from=${from}&to=${to}`),
      ]);
      const cols = at.rows.length ? Object.keys(at.rows[0].values).slice(0, 5) : [];
      stateBox.replaceChildren(
        h("p", {}, h("b", {}, fmtNum(at.rows.length)), ` rows of ${table_} alive at ${usToIso(t)}`),
        table([
          ...cols.map((c) => ({ label: c, get: (r) => fmtValue(r.values[c]) })),
          { label: "since", get: (r) => usToIso(r.created).slice(11) },
          { label: "origin", get: (r) => origin(r.origin) },
        ], at.rows.slice(0, 40), { cls: "state" }));
      const opens = ch.changes.filter((c) => c.kind === "open").length;
      changesBox.replaceChildren(
        h("p", {}, `(${usToIso(from).slice(11)}, ${usToIso(to).slice(11)}]: `, h("span", { class: "change-open" }, `${opens} opens`), ", ",
          h("span", { class: "change-close" }, `${ch.changes.length - opens} closes`)),
        table([
          { label: "time", get: (c) => usToIso(c.time).slice(11) },
          { label: "kind", get: (c) => c.kind, cls: (c) => `change-${c.kind}` },
          { label: "row", get: (c) => rowText(c.row) },
        ], ch.changes.slice(0, 40), { cls: "changes", empty: "no changes in this interval" }));
    } catch (e) { stateBox.replaceChildren(errorBox(e)); }
  };
  slider.oninput = () => { when.textContent = usToIso(tAt()); drawPlot(tAt()); };
  slider.onchange = draw;
  pick.onchange = async () => { previous = null; await loadHistory(pick.value); draw(); };
  root.append(card("Time slider",
    h("div", { class: "row" }, h("label", {}, "table", pick), h("span", {}, "instant: ", when)),
    slider,
    h("div", { class: "row muted" }, h("span", {}, usToIso(lo)), h("span", { style: "margin-left:auto" }, usToIso(hi))),
    plotBox),
  h("div", { class: "grid", style: "margin-top:16px" }, card("State at the chosen instant", stateBox), card("Changes since the previous instant", changesBox)));
  await loadHistory(pick.value);
  await draw();
};

function fmtValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "string" && /^\d{16,}$/.test(v)) return "0x" + BigInt(v).toString(16);
  if (typeof v === "number" && v > 0xffffffff) return "0x" + v.toString(16);
  return String(v);
}

pages.packets = async (root) => {
  root.append(h("h2", {}, "Packets (Time Machine)"));
  const st = await api("/api/v1/packets/stats");
  const live = st.recorder;
  root.append(live
    ? h("p", { class: "live" }, h("b", {}, `Recording live on ${live.interface}`),
      ` — ${fmtNum(live.conns)} connections in the table, kernel received ${fmtNum(live.kernel.recv)} and dropped ${fmtNum(live.kernel.drop)}, queue drops ${fmtNum(live.counters.queue_drops)}; queries include the memory rings.`)
    : h("p", { class: "muted" }, "No live recorder (set [packets] interface to capture); queries read the packets directory."));
  const index = h("select", { name: "index" }, ["conn4", "conn3", "conn2", "ip", "port", "(filter)"].map((k) => h("option", { value: k }, k)));
  const key = h("input", { name: "key", size: 34, placeholder: "10.0.0.1:1234-192.0.2.7:80 or 10.0.0.1" });
  const filter = h("input", { name: "filter", size: 30, placeholder: "tcp port 443" });
  const start = h("input", { name: "start", size: 20, placeholder: "start (optional)" });
  const end = h("input", { name: "end", size: 20, placeholder: "end (optional)" });
  const result = h("div", { class: "muted" }, "Run a query: the pcap downloads and its summary shows here.");
  const url = () => {
    const q = new URLSearchParams();
    if (index.value === "(filter)") q.set("filter", filter.value);
    else { q.set("index", index.value); q.set("key", key.value); }
    if (start.value) q.set("start", start.value);
    if (end.value) q.set("end", end.value);
    return `/api/v1/packets/query?${q}`;
  };
  const form = h("form", { class: "row" },
    h("label", {}, "index", index), h("label", {}, "key", key), h("label", {}, "or filter", filter),
    h("label", {}, "start", start), h("label", {}, "end", end), h("button", { type: "submit" }, "Query and download pcap"));
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const u = url();
    result.replaceChildren(h("span", {}, "running…"));
    try {
      const r = await fetch(u);
      if (!r.ok) {
        const b = await r.json().catch(() => ({ error: { code: "http", message: r.status } }));
        throw new Error(`${b.error.code}: ${b.error.message}`);
      }
      const blob = await r.blob();
      const a = h("a", { href: URL.createObjectURL(blob), download: "vantage-query.pcap" }, "download again");
      // Only a person's submit downloads at once; the hash autorun just shows the result.
      if (ev.isTrusted) a.click();
      result.replaceChildren(h("p", {}, h("b", {}, fmtBytes(blob.size)), " pcap — ", r.headers.get("x-vantage-summary") || "", " — ", a));
    } catch (e) { result.replaceChildren(errorBox(e)); }
  };
  // `#packets?filter=tcp` (or index=…&key=…) fills the form and runs it: links and the
  // browser test use it.
  const pre = new URLSearchParams((location.hash.split("?")[1]) || "");
  const autorun = pre.has("filter") || pre.has("key");
  if (pre.has("filter")) { index.value = "(filter)"; filter.value = pre.get("filter"); }
  if (pre.has("index")) index.value = pre.get("index");
  if (pre.has("key")) key.value = pre.get("key");
  const classes = st.classes || [];
  root.append(card("Connection / host query", form, result),
    h("div", { class: "grid", style: "margin-top:16px" },
      card("Stored and cut bytes per class (cutoff)", barChart(classes.map((c) => ({ label: c.class, values: [c.stored_bytes, c.cut_bytes] })), ["stored", "cut"], fmtBytes)),
      card("Retention span on disk per class (seconds)", barChart(classes.map((c) => ({ label: c.class, values: [c.disk_dt] })), ["disk_dt"], (v) => Number(v).toFixed(2))),
      ...(live ? [card("Memory ring per class (live)", barChart(live.classes.map((c) => ({ label: c.name, values: [c.mem_bytes] })), ["mem_bytes"], fmtBytes))] : [])),
    h("div", { style: "margin-top:16px" },
      card("Classes", table([
        { label: "class", get: (c) => c.class },
        { label: "stored pkts", num: 1, get: (c) => fmtNum(c.stored_pkts) },
        { label: "stored", num: 1, get: (c) => fmtBytes(c.stored_bytes) },
        { label: "cut pkts", num: 1, get: (c) => fmtNum(c.cut_pkts) },
        { label: "cut", num: 1, get: (c) => fmtBytes(c.cut_bytes) },
        { label: "segments", num: 1, get: (c) => fmtNum(c.segments) },
        { label: "disk", num: 1, get: (c) => fmtBytes(c.disk_bytes) },
        { label: "oldest (UTC)", get: (c) => (c.oldest_ns ? new Date(c.oldest_ns / 1e6).toISOString().replace("T", " ").slice(0, 23) : "") },
        { label: "retention s", num: 1, get: (c) => Number(c.disk_dt).toFixed(3) },
      ], classes))),
    h("div", { class: "grid", style: "margin-top:16px" },
      card("Recorder totals", table([{ label: "counter", get: (r) => r[0] }, { label: "value", num: 1, get: (r) => fmtNum(r[1]) }],
        Object.entries(st.counters || {}).filter(([, v]) => typeof v === "number")))));
  if (autorun) await form.onsubmit(new Event("submit"));
};

pages.cans = async (root) => {
  const list = await api("/api/v1/reports/cans");
  root.append(h("h2", {}, "Published clean cans (reports)"),
    h("p", { class: "muted" }, "Sanitized measurements only, as OONI's public site offered them: each can is an LZ4 tar (tar -I lz4 -xf), with its JSON-lines index; downloads accept HTTP ranges."),
    card(`${list.cans.length} cans`, table([
      { label: "bucket", get: (c) => c.bucket },
      { label: "can", get: (c) => { const n = c.filename.split("/").pop(); return h("a", { href: c.url, title: n }, n.length > 52 ? n.slice(0, 51) + "…" : n); } },
      { label: "test", get: (c) => c.test_name },
      { label: "size", num: 1, get: (c) => fmtBytes(c.size) },
      { label: "measurements", num: 1, get: (c) => fmtNum(c.datums) },
      { label: "sha1", get: (c) => h("code", { title: c.sha1 }, c.sha1.slice(0, 12) + "…") },
      { label: "index", get: (c) => h("a", { href: c.index_url }, `index (${fmtBytes(c.index_size)})`) },
    ], list.cans, { empty: "no clean cans yet" })));
};

async function route() {
  const name = (location.hash || "#overview").slice(1).split("?")[0];
  const page = pages[name] ? name : "overview";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  const root = $("#page");
  root.dataset.ready = "no";
  root.replaceChildren();
  document.title = `Vantage — ${page}`;
  try {
    await pages[page](root);
    root.dataset.ready = "yes";
  } catch (e) {
    root.append(errorBox(e));
    root.dataset.ready = "error";
  }
}

window.addEventListener("hashchange", route);
route();
