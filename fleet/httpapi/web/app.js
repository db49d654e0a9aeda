// Polis fleet dashboard: reads the JSON API every few seconds. No build step.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { offices: [], alarms: [] };

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function ago(t) {
  if (!t) return '<span class="muted">never</span>';
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  const txt = s < 60 ? Math.round(s) + " s" : s < 3600 ? Math.round(s / 60) + " min" : s < 86400 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
  return `<span title="${esc(new Date(t).toLocaleString())}">${txt} ago</span>`;
}
const sum = (m) => Object.values(m || {}).reduce((a, b) => a + b, 0);
const fmt = (n) => Number(n || 0).toLocaleString();

function fillSelect(sel, values) {
  const cur = sel.value;
  const opts = ['<option value="">all</option>'].concat([...values].sort().map((v) => `<option>${esc(v)}</option>`));
  if (sel.dataset.opts !== opts.join("")) {
    sel.innerHTML = opts.join("");
    sel.dataset.opts = opts.join("");
    sel.value = cur;
  }
}

function visible() {
  const region = $("region").value, prov = $("province").value, st = $("state").value, q = $("q").value.trim().toLowerCase();
  return state.offices.filter((o) =>
    (!region || o.region === region) && (!prov || o.province === prov) &&
    (!st || (st === "online" && o.online) || (st === "offline" && !o.online) || (st === "alarm" && o.open_alarms.length)) &&
    (!q || [o.id, o.name, o.comune].some((v) => (v || "").toLowerCase().includes(q))));
}

// devices summarises an office's device health: how many are ok, and by
// name each one that is not, so a facility manager sees "inv1 unreachable".
function devices(o) {
  const d = o.devices || {};
  const ids = Object.keys(d);
  if (!ids.length) return '<span class="muted">—</span>';
  const bad = ids.filter((id) => d[id] !== "ok").sort();
  return `<span class="devok">${ids.length - bad.length} ok</span>` +
    bad.map((id) => ` <span class="sev warning" title="${esc(d[id])}">${esc(id)}: ${esc(d[id])}</span>`).join("");
}

function render() {
  const offices = state.offices;
  fillSelect($("region"), new Set(offices.map((o) => o.region).filter(Boolean)));
  fillSelect($("province"), new Set(offices.filter((o) => !$("region").value || o.region === $("region").value).map((o) => o.province).filter(Boolean)));
  const rows = visible().map((o) => {
    const cls = o.online ? "online" : o.status_time ? "offline" : "unknown";
    const label = o.online ? "online" : o.status_time ? "offline" : "no status";
    const rejected = sum(o.samples_rejected), drops = sum(o.edge_dropped);
    const alarms = o.open_alarms.map((a) => `<span class="sev ${esc(a.severity)}" title="${esc(a.message)}">${esc(a.kind || a.severity)}</span>`).join(" ");
    return `<tr>
      <td class="id"><b>${esc(o.id)}</b><small>${esc(o.name)}</small></td>
      <td>${esc(o.comune)}</td><td>${esc(o.province)}</td><td>${esc(o.region)}</td>
      <td><span class="state ${cls}">${label}</span>${o.registered ? "" : ' <span class="muted">(unregistered)</span>'}</td>
      <td class="devices">${devices(o)}</td>
      <td>${ago(o.last_seen)}</td><td>${ago(o.last_batch)}</td>
      <td class="num">${fmt(o.backlog)}</td><td class="num">${fmt(o.samples_accepted)}</td>
      <td class="num ${rejected ? "bad" : ""}">${fmt(rejected)}</td><td class="num ${drops ? "bad" : ""}">${fmt(drops)}</td>
      <td>${alarms || '<span class="muted">—</span>'}</td></tr>`;
  });
  $("offices").innerHTML = rows.join("") || '<tr><td colspan="13" class="muted">no office matches</td></tr>';
  $("alarms").innerHTML = state.alarms.map((a) => `<tr><td>${ago(a.time)}</td><td>${esc(a.office)}</td><td>${esc(a.device)}</td>
      <td>${esc(a.kind)}</td><td><span class="sev ${esc(a.severity)}">${esc(a.severity)}</span></td><td>${esc(a.message)}</td></tr>`).join("")
    || '<tr><td colspan="6" class="muted">no open alarms</td></tr>';
}

function renderSummary(s) {
  const o = s.offices || {};
  $("summary").innerHTML = [
    `<span class="pill">offices <b>${fmt(o.total)}</b></span>`,
    `<span class="pill">online <b>${fmt(o.online)}</b></span>`,
    `<span class="pill">alarms <b>${fmt(o.open_alarms)}</b></span>`,
    `<span class="pill">samples <b>${fmt(s.samples_accepted)}</b></span>`,
    `<span class="pill">InfluxDB <b>${s.influx_up ? "up" : "DOWN"}</b></span>`,
  ].join("");
}

async function refresh() {
  try {
    const [offices, alarms, status] = await Promise.all(["offices", "alarms", "status"].map((p) =>
      fetch("api/v1/" + p, { cache: "no-store" }).then((r) => { if (!r.ok) throw new Error(p + ": " + r.status); return r.json(); })));
    state.offices = offices; state.alarms = alarms;
    renderSummary(status);
    render();
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("updated").textContent = "refresh failed: " + e.message;
  }
}

for (const id of ["region", "province", "state"]) $(id).addEventListener("change", render);
$("q").addEventListener("input", render);
refresh();
setInterval(refresh, 5000);
