// The azemu console: draws /_emulator/world and the decision traces. Plain
// DOM, no framework, nothing fetched from outside the emulator.
"use strict";

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
async function getJson(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!r.ok) throw new Error(`${r.status} ${typeof body === "string" ? body : JSON.stringify(body)}`);
  return body;
}
const typeOf = (r) => (r.type || "").toLowerCase();
const lower = (s) => (s || "").toLowerCase();

let world = null;
let selectedTrace = null;

// ---- tabs -------------------------------------------------------------------
for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll(".tab")) s.classList.toggle("active", s.id === name);
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
}

// ---- resources ----------------------------------------------------------------
function drawTree() {
  const tree = $("#tree");
  tree.replaceChildren();
  const groups = world.resources.filter((r) => typeOf(r) === "microsoft.resources/resourcegroups");
  const others = world.resources.filter((r) => typeOf(r) !== "microsoft.resources/resourcegroups");
  const sub = el("li", {}, el("span", { class: "node sub" }, `subscription ${world.subscriptionId}`));
  const list = el("ul");
  for (const g of groups) {
    const prefix = lower(g.id) + "/";
    const inside = others.filter((r) => lower(r.id).startsWith(prefix));
    const ul = el("ul", {}, inside.map((r) =>
      el("li", { class: "node", "data-id": r.id, onclick: () => showResource(r) },
        r.id.slice(g.id.length + 1).split("/").filter((_, i) => i > 2 && i % 2 === 1).join("/") || r.name, " ",
        el("span", { class: "type" }, r.type))));
    list.append(el("li", {},
      el("span", { class: "node rg", "data-id": g.id, onclick: () => showResource(g) }, `${g.name} `,
        el("span", { class: "type" }, `${inside.length} resources`)), ul));
  }
  sub.append(list);
  tree.append(sub);
}
function showResource(r) {
  $("#resource-json").textContent = JSON.stringify(r, null, 2);
}

// ---- identities and role assignments as a graph -------------------------------
function principalName(id) {
  const p = world.principals.find((x) => lower(x.objectId) === lower(id));
  if (!p) return id;
  return p.resourceId ? p.resourceId.split("/").pop() + " (managed identity)" : p.displayName;
}
function shortScope(scope) {
  const parts = scope.split("/");
  if (parts.length <= 3) return "subscription " + (parts[2] || "");
  if (parts.length <= 5) return "resource group " + parts[4];
  return parts.slice(-2).join(" ");
}
function drawGraph() {
  const assignments = world.roleAssignments;
  // Every principal that holds a role, and every managed identity (one without a role is the usual pull failure).
  const identities = world.principals.filter((p) => p.resourceId).map((p) => lower(p.objectId));
  const principals = [...new Set([...assignments.map((a) => lower(a.principalId)), ...identities])];
  const roles = [...new Set(assignments.map((a) => a.role))];
  const scopes = [...new Set(assignments.map((a) => lower(a.scope)))];
  const row = 28, width = 1100, colX = [10, 380, 650], boxW = [300, 200, 440];
  const height = Math.max(principals.length, roles.length, scopes.length, 1) * row + 40;
  const s = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "role-graph" });
  const heads = ["principal", "role", "scope"];
  heads.forEach((h, i) => s.append(svg("text", { x: colX[i], y: 14, "font-weight": "bold" }, h)));
  const y = (i) => 30 + i * row;
  const box = (col, i, label, title) => {
    const g = svg("g", { class: "box" });
    g.append(svg("rect", { x: colX[col], y: y(i), width: boxW[col], height: row - 6, rx: 4, fill: "#eef3f9", stroke: "#8aa4c0" }));
    g.append(svg("text", { x: colX[col] + 6, y: y(i) + 16 }, label.length > 64 ? label.slice(0, 63) + "…" : label));
    g.append(svg("title", {}, title || label));
    s.append(g);
  };
  for (const a of assignments) {
    const pi = principals.indexOf(lower(a.principalId)), ri = roles.indexOf(a.role), si = scopes.indexOf(lower(a.scope));
    const mid = (i) => y(i) + (row - 6) / 2;
    s.append(svg("path", { d: `M${colX[0] + boxW[0]},${mid(pi)} C${colX[1] - 40},${mid(pi)} ${colX[1] - 40},${mid(ri)} ${colX[1]},${mid(ri)}`, fill: "none", stroke: "#5b7fa6" }));
    s.append(svg("path", { d: `M${colX[1] + boxW[1]},${mid(ri)} C${colX[2] - 30},${mid(ri)} ${colX[2] - 30},${mid(si)} ${colX[2]},${mid(si)}`, fill: "none", stroke: "#5b7fa6" }));
  }
  principals.forEach((p, i) => box(0, i, principalName(p) + (assignments.some((a) => lower(a.principalId) === p) ? "" : " — no roles"), p));
  roles.forEach((r, i) => box(1, i, r));
  scopes.forEach((sc, i) => box(2, i, shortScope(sc), sc));
  $("#graph").replaceChildren(principals.length ? s : el("p", {}, "No role assignments yet."));
  const t = $("#assignments");
  t.replaceChildren(el("tr", {}, el("th", {}, "principal"), el("th", {}, "role"), el("th", {}, "scope"), el("th", {}, "condition")),
    ...assignments.map((a) => el("tr", {}, el("td", { title: a.principalId }, principalName(a.principalId)), el("td", {}, a.role),
      el("td", {}, a.scope), el("td", {}, a.condition || ""))));
}

// ---- registries -----------------------------------------------------------------
function drawRegistries() {
  const regs = world.resources.filter((r) => typeOf(r) === "microsoft.containerregistry/registries");
  const section = $("#registries");
  section.replaceChildren();
  if (!regs.length) section.append(el("p", {}, "No registries."));
  for (const r of regs) {
    const repos = world.registries[lower(r.name)] || [];
    const props = r.properties || {};
    const card = el("div", { class: "card", "data-registry": r.name },
      el("h3", {}, `${props.loginServer || r.name} `, el("span", { class: "type" }, `${(r.sku || {}).name || ""} · public network ${props.publicNetworkAccess || "Enabled"} · admin ${props.adminUserEnabled ? "on" : "off"}`)));
    const table = el("table", {}, el("tr", {}, el("th", {}, "repository"), el("th", {}, "tags"), el("th", {}, "manifests"), el("th", {}, "image sizes")));
    const human = (n) => n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
    for (const repo of repos) {
      const size = repo.manifests.reduce((n, m) => n + (m.imageSize || 0), 0);
      table.append(el("tr", { "data-repository": repo.name }, el("td", {}, repo.name),
        el("td", {}, repo.tags.map((t) => el("div", { title: t.digest }, `${t.tag} → ${String(t.digest).slice(0, 19)}…`))),
        el("td", {}, repo.manifests.map((m) => el("div", { title: m.mediaType }, `${m.digest.slice(0, 19)}… ${m.imageSize === null ? `${m.size} B index` : human(m.imageSize)}`))),
        el("td", {}, `${human(size)} in ${repo.manifests.filter((m) => m.imageSize !== null).length} images`)));
    }
    card.append(repos.length ? table : el("p", {}, "No repositories."));
    section.append(card);
  }
}

// ---- container groups -----------------------------------------------------------
function drawGroups() {
  const groups = world.resources.filter((r) => typeOf(r) === "microsoft.containerinstance/containergroups");
  const section = $("#groups");
  section.replaceChildren();
  if (!groups.length) section.append(el("p", {}, "No container groups."));
  for (const g of groups) {
    const p = g.properties || {};
    const card = el("div", { class: "card", "data-group": g.name },
      el("h3", {}, g.name, " ", el("span", { class: "type" }, `${p.provisioningState || ""} · ${(p.instanceView || {}).state || ""} · ${p.osType || ""}`)));
    for (const c of p.containers || []) {
      const cp = c.properties || {};
      const iv = cp.instanceView || {};
      card.append(el("p", {}, el("b", {}, c.name), ` ${cp.image} — ${(iv.currentState || {}).state || "no state"}`));
      const events = iv.events || [];
      if (events.length) {
        card.append(el("table", {}, el("tr", {}, el("th", {}, "event"), el("th", {}, "type"), el("th", {}, "count"), el("th", {}, "message")),
          events.map((e) => el("tr", {}, el("td", {}, e.name), el("td", {}, e.type), el("td", {}, e.count), el("td", {}, e.message)))));
      }
    }
    section.append(card);
  }
}

// ---- task runs -------------------------------------------------------------------
function drawRuns() {
  const section = $("#runs");
  section.replaceChildren();
  if (!world.runs.length) section.append(el("p", {}, "No task runs."));
  for (const r of world.runs) {
    const p = r.properties || {};
    section.append(el("div", { class: "card", "data-run": p.runId || r.name },
      el("h3", {}, `${p.runId || r.name} `, el("span", { class: "type" }, `${p.status || ""} · ${p.runType || ""} · ${p.task || ""}`)),
      el("pre", { class: "json" }, r.log || "(no log)")));
  }
}

// ---- decision traces -------------------------------------------------------------
const LANES = { C: 0, E: 1, N: 2, R: 3, A: 4, B: 5 };
let traceLimit = 200;
async function loadTraces() {
  const q = new URLSearchParams({ limit: String(traceLimit) });
  if ($("#failed-only").checked) q.set("failed", "true");
  if ($("#kind-filter").value) q.set("kind", $("#kind-filter").value);
  const traces = (await getJson("/_emulator/traces?" + q)).value;
  const kinds = new Set([...$("#kind-filter").options].map((o) => o.value));
  for (const t of traces) if (!kinds.has(t.kind)) { kinds.add(t.kind); $("#kind-filter").append(el("option", { value: t.kind }, t.kind)); }
  $("#trace-count").textContent = `${traces.length} shown, newest first`;
  $("#more-traces").hidden = traces.length < traceLimit;
  $("#timeline").replaceChildren(...traces.map((t) => {
    const failed = t.steps.some((s) => !s.passed);
    return el("li", { class: `trace ${failed ? "failed" : "passed"}${t.id === selectedTrace ? " selected" : ""}`, "data-id": t.id,
      "data-kind": t.kind, "data-failed": String(failed), onclick: () => openTrace(t.id) },
      el("span", { class: "when" }, `${t.time} · ${t.kind}`), el("br"),
      el("span", { class: failed ? "bad" : "ok" }, failed ? "✗ " : "✓ "), `${t.target} — ${t.resource.split("/").pop()}`);
  }));
}
async function openTrace(id) {
  selectedTrace = id;
  for (const li of document.querySelectorAll("#timeline li")) li.classList.toggle("selected", li.dataset.id === id);
  const seq = await getJson(`/_emulator/explain?id=${encodeURIComponent(id)}&format=sequence`);
  const laneW = 170, top = 40, stepH = 46;
  const width = laneW * seq.participants.length + 20;
  const height = top + seq.messages.length * stepH + 30;
  const s = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "sequence" });
  const defs = svg("defs");
  for (const [name, colour] of [["ok", "#2e7d32"], ["bad", "#c62828"]]) {
    const m = svg("marker", { id: `arrow-${name}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    m.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }));
    defs.append(m);
  }
  s.append(defs);
  const x = (p) => 10 + LANES[p] * laneW + laneW / 2;
  for (const p of seq.participants) {
    s.append(svg("rect", { x: x(p.id) - 70, y: 4, width: 140, height: 24, rx: 4, fill: "#0b3d6e" }));
    s.append(svg("text", { x: x(p.id), y: 20, "text-anchor": "middle", fill: "#fff" }, p.name));
    s.append(svg("line", { x1: x(p.id), y1: 28, x2: x(p.id), y2: height - 10, stroke: "#b0bec5", "stroke-dasharray": "4 3" }));
  }
  seq.messages.forEach((m, i) => {
    const yy = top + i * stepH + 24;
    const colour = m.passed ? "#2e7d32" : "#c62828";
    const g = svg("g", { class: `message ${m.passed ? "passed" : "failed"}`, "data-check": m.check, "data-passed": String(m.passed) });
    const x1 = x(m.from), x2 = x(m.to) === x1 ? x1 + 60 : x(m.to);
    g.append(svg("line", { x1, y1: yy, x2, y2: yy, stroke: colour, "stroke-width": m.passed ? 1.5 : 2.5, "marker-end": `url(#arrow-${m.passed ? "ok" : "bad"})` }));
    g.append(svg("text", { x: Math.min(x1, x2) + 4, y: yy - 6, fill: colour }, `${m.passed ? "✓" : "✗"} ${m.check}`));
    g.append(svg("title", {}, m.detail));
    if (!m.passed) g.append(svg("text", { x: x2 + (x2 > x1 ? 8 : -18), y: yy + 5, fill: colour, "font-weight": "bold" }, "✗"));
    s.append(g);
  });
  const steps = el("ol", { class: "steps" }, seq.messages.map((m) =>
    el("li", { class: m.passed ? "ok" : "bad", "data-check": m.check }, `${m.passed ? "✓" : "✗"} ${m.check}: ${m.detail}`)));
  $("#trace-detail").replaceChildren(
    el("h3", {}, `${seq.kind} `, el("span", { class: "type" }, id)), s, steps,
    el("div", { class: "outcome", id: "outcome" }, "→ ", seq.outcome),
    seq.fix ? el("div", { class: "fix", id: "fix" }, el("b", {}, "Fix: "), seq.fix) : null);
}
$("#failed-only").addEventListener("change", loadTraces);
$("#more-traces").addEventListener("click", () => { traceLimit += 200; loadTraces(); });
$("#kind-filter").addEventListener("change", loadTraces);

// ---- controls --------------------------------------------------------------------
function said(v) { $("#control-result").textContent = typeof v === "string" ? v : JSON.stringify(v, null, 2); }
async function control(url, init) {
  try { said(await getJson(url, init) ?? "done"); } catch (e) { said(String(e)); }
  await refresh();
}
// The control API takes calls that change state only as JSON (no form can send that).
const send = (method, body) => ({ method, headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
const post = (body) => send("POST", body);
$("#reset").addEventListener("click", () => { if (confirm("Drop every resource and re-seed?")) control("/_emulator/reset", post({})); });
$("#export").addEventListener("click", () => control("/_emulator/state/export", post({ path: $("#snapshot-path").value })));
$("#import").addEventListener("click", () => control("/_emulator/state/import", post({ path: $("#snapshot-path").value })));
$("#advance").addEventListener("click", () => control(`/_emulator/clock/advance?seconds=${encodeURIComponent($("#advance-seconds").value)}`, post({})));
$("#add-fault").addEventListener("click", () => {
  let rule;
  try { rule = JSON.parse($("#fault-json").value); } catch (e) { said("Not JSON: " + e.message); return; }
  control("/_emulator/faults", post(rule));
});
$("#clear-faults").addEventListener("click", () => control("/_emulator/faults", send("DELETE")));
async function drawControls() {
  $("#clock-now").textContent = world.now;
  const rules = await getJson("/_emulator/faults");
  const list = Array.isArray(rules) ? rules : rules.value || [];
  $("#faults").replaceChildren(el("tr", {}, el("th", {}, "id"), el("th", {}, "rule"), el("th", {}, "hits"), el("th", {})),
    ...list.map((r) => el("tr", {}, el("td", {}, r.id), el("td", {}, JSON.stringify({ ...r, id: undefined, hits: undefined })), el("td", {}, r.hits ?? 0),
      el("td", {}, el("button", { onclick: () => control(`/_emulator/faults/${encodeURIComponent(r.id)}`, send("DELETE")) }, "remove")))));
}

// ---- refresh ---------------------------------------------------------------------
async function refresh() {
  try {
    world = await getJson("/_emulator/world");
    drawTree(); drawGraph(); drawRegistries(); drawGroups(); drawRuns();
    await Promise.all([loadTraces(), drawControls()]);
    $("#status").textContent = `${world.resources.length} resources · ${world.principals.length} principals · ${world.roleAssignments.length} role assignments · ${world.now}`;
  } catch (e) {
    $("#status").textContent = "emulator unreachable: " + e.message;
  }
}
(async () => {
  await refresh();
  const wanted = (location.hash || "").slice(1);
  showTab(document.querySelector(`section.tab[id="${CSS.escape(wanted)}"]`) ? wanted : "world");
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
  setInterval(() => { if ($("#live").checked) loadTraces().catch(() => {}); }, 2000);
})();
