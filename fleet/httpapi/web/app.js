// Polis fleet dashboard: sign-in, then the JSON API with server-side
// filtering and paging. No build step, no CDN.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = 50;
const state = { me: null, csrf: "", offset: 0, total: 0, detail: "", span: "24h" };

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function ago(t) {
  if (!t) return '<span class="muted">never</span>';
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  const txt = s < 60 ? Math.round(s) + " s" : s < 3600 ? Math.round(s / 60) + " min" : s < 86400 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
  return `<span title="${esc(new Date(t).toLocaleString())}">${txt} ago</span>`;
}
const kwh = (e, k) => (e ? (e[k] / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 }) + " kWh" : "—");
const sum = (m) => Object.values(m || {}).reduce((a, b) => a + b, 0);
const fmt = (n) => Number(n || 0).toLocaleString();

// api calls the JSON API; state-changing calls carry the CSRF token.
async function api(path, opts = {}) {
  const init = { cache: "no-store", credentials: "same-origin", ...opts, headers: { ...(opts.headers || {}) } };
  if (init.body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(init.body); }
  if (init.method && init.method !== "GET") init.headers["X-CSRF-Token"] = state.csrf;
  const r = await fetch("api/v1/" + path, init);
  if (r.status === 401) { showLogin(); throw new Error("signed out"); }
  const text = await r.text();
  const body = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error((body && body.error && body.error.message) || r.status);
  return { body, headers: r.headers };
}

function fillSelect(sel, values) {
  const cur = sel.value;
  const opts = ['<option value="">all</option>'].concat([...values].sort().map((v) => `<option>${esc(v)}</option>`));
  if (sel.dataset.opts !== opts.join("")) {
    sel.innerHTML = opts.join("");
    sel.dataset.opts = opts.join("");
    sel.value = cur;
  }
}

function devices(o) {
  const d = o.devices || {};
  const ids = Object.keys(d);
  if (!ids.length) return '<span class="muted">—</span>';
  const bad = ids.filter((id) => d[id] !== "ok").sort();
  return `<span class="devok">${ids.length - bad.length} ok</span>` +
    bad.map((id) => ` <span class="sev warning" title="${esc(d[id])}">${esc(id)}: ${esc(d[id])}</span>`).join("");
}

function officeRow(o) {
  const cls = o.online ? "online" : o.status_time ? "offline" : "unknown";
  const label = o.online ? "online" : o.status_time ? "offline" : "no status";
  const rejected = sum(o.samples_rejected), drops = sum(o.edge_dropped);
  const alarms = o.open_alarms.map((a) => `<span class="sev ${esc(a.severity)}" title="${esc(a.message)}">${esc(a.kind || a.severity)}</span>`).join(" ");
  return `<tr>
    <td class="id"><a href="#office/${esc(o.id)}" data-office="${esc(o.id)}"><b>${esc(o.id)}</b></a><small>${esc(o.name)}</small></td>
    <td>${esc(o.comune)}</td><td>${esc(o.province)}</td><td>${esc(o.region)}</td>
    <td><span class="state ${cls}">${label}</span>${o.registered ? "" : ' <span class="muted">(unregistered)</span>'}</td>
    <td class="devices">${devices(o)}</td>
    <td>${ago(o.last_seen)}</td><td>${ago(o.last_batch)}</td>
    <td class="num">${fmt(o.backlog)}</td><td class="num">${fmt(o.samples_accepted)}</td>
    <td class="num ${rejected ? "bad" : ""}">${fmt(rejected)}</td><td class="num ${drops ? "bad" : ""}">${fmt(drops)}</td>
    <td>${alarms || '<span class="muted">—</span>'}</td></tr>`;
}

function alarmRow(a) {
  const st = (a.active ? "active" : "cleared") + ", " + (a.acknowledged ? "ack by " + a.acknowledged_by : "unack");
  const canAct = state.me && (state.me.role === "operator" || state.me.role === "admin");
  const btn = canAct && !a.acknowledged ? `<button type="button" class="ack" data-alarm="${esc(a.id)}">Acknowledge</button>` : "";
  return `<tr><td>${ago(a.raised)}</td><td>${esc(a.office)}</td><td>${esc(a.device)}</td><td>${esc(a.kind)}</td>
    <td><span class="sev ${esc(a.severity)}">${esc(a.severity)}</span></td><td>${esc(st)}</td><td>${esc(a.message)}</td><td>${btn}</td></tr>`;
}

function renderSummary(s) {
  fillSelect($("region"), new Set(s.regions.map((r) => r.region).filter(Boolean)));
  fillSelect($("province"), new Set(s.provinces.filter((p) => !$("region").value || p.region === $("region").value).map((p) => p.province).filter(Boolean)));
  const row = (r) => `<tr><td>${esc(r.region || "(none)")}</td><td class="num">${fmt(r.offices)}</td><td class="num online">${fmt(r.online)}</td>
    <td class="num ${r.offline ? "offline" : ""}">${fmt(r.offline)}</td><td class="num ${r.open_alarms.critical ? "bad" : ""}">${fmt(r.open_alarms.critical)}</td>
    <td class="num">${fmt(r.open_alarms.warning)}</td><td class="num">${kwh(r.energy_today, "pv_wh")}</td>
    <td class="num">${kwh(r.energy_today, "grid_import_wh")}</td><td class="num">${kwh(r.energy_today, "ev_wh")}</td>
    <td class="num">${r.energy_today ? fmt(r.energy_today.sessions) : "—"}</td></tr>`;
  $("regions").innerHTML = s.regions.map(row).join("") + row({ ...s.total, region: "Total" });
  $("summary").innerHTML = [
    `<span class="pill">offices <b>${fmt(s.total.offices)}</b></span>`,
    `<span class="pill">online <b>${fmt(s.total.online)}</b></span>`,
    `<span class="pill">alarms <b>${fmt(s.total.open_alarms.total)}</b></span>`,
  ].join("");
}

function officeQuery() {
  const p = new URLSearchParams({ offset: state.offset, limit: PAGE });
  if ($("region").value) p.set("region", $("region").value);
  if ($("province").value) p.set("province", $("province").value);
  if ($("state").value) p.set("online", $("state").value === "online");
  if ($("q").value.trim()) p.set("q", $("q").value.trim());
  return p.toString();
}

async function refresh() {
  if (!state.me) return;
  try {
    const [summary, offices, alarms] = await Promise.all([api("summary"), api("offices?" + officeQuery()),
      api("alarms?sort=" + $("sort").value + ($("region").value ? "&region=" + encodeURIComponent($("region").value) : ""))]);
    renderSummary(summary.body);
    state.total = Number(offices.headers.get("X-Total-Count") || 0);
    $("offices").innerHTML = offices.body.map(officeRow).join("") || '<tr><td colspan="13" class="muted">no office matches</td></tr>';
    $("page").textContent = state.total ? `${state.offset + 1}–${Math.min(state.offset + PAGE, state.total)} of ${state.total}` : "0";
    $("alarms").innerHTML = alarms.body.map(alarmRow).join("") || '<tr><td colspan="8" class="muted">no open alarms</td></tr>';
    if (state.detail) await showOffice(state.detail, false);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("updated").textContent = "refresh failed: " + e.message;
  }
}

function showLogin() {
  // Nothing of the last user's session stays on the page for the next one.
  state.me = null; state.csrf = ""; state.detail = "";
  $("detail").hidden = true; $("detail").innerHTML = "";
  $("app").hidden = true; $("who").hidden = true; $("login").hidden = false;
}

function signedIn(me) {
  state.me = me; state.csrf = me.csrf;
  $("login").hidden = true; $("app").hidden = false; $("who").hidden = false;
  const scope = me.scope && (me.scope.provinces ? "provinces " + me.scope.provinces.join(",") : me.scope.region) || "fleet";
  $("whoami").textContent = `${me.name} (${me.role}, ${scope})`;
  refresh();
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("loginerr").textContent = "";
  try {
    const r = await fetch("api/v1/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: $("user").value, password: $("password").value }) });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error.message);
    $("password").value = "";
    signedIn(body);
  } catch (e) { $("loginerr").textContent = e.message; }
});
$("logout").addEventListener("click", async () => { try { await api("logout", { method: "POST" }); } catch (e) { /* signed out anyway */ } showLogin(); });
document.addEventListener("click", async (ev) => {
  const t = ev.target.closest("[data-alarm],[data-office],#closedetail,[data-span]");
  if (!t) return;
  ev.preventDefault();
  try {
    if (t.id === "closedetail") { state.detail = ""; $("detail").hidden = true; return; }
    if (t.dataset.office) { await showOffice(t.dataset.office, true); return; }
    if (t.dataset.span) { state.span = t.dataset.span; await showOffice(state.detail, true); return; }
    const comment = $("ack-comment").value;
    await api("alarms/" + encodeURIComponent(t.dataset.alarm) + "/ack", { method: "POST", body: { comment } });
    refresh();
  } catch (e) { $("updated").textContent = e.message; }
});
for (const id of ["region", "province", "state", "sort"]) $(id).addEventListener("change", () => { state.offset = 0; refresh(); });
$("q").addEventListener("input", () => { state.offset = 0; refresh(); });
$("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); refresh(); });
$("next").addEventListener("click", () => { if (state.offset + PAGE < state.total) { state.offset += PAGE; refresh(); } });

fetch("api/v1/me", { cache: "no-store" }).then(async (r) => { if (r.ok) signedIn(await r.json()); else showLogin(); }).catch(showLogin);
setInterval(refresh, 5000);
