// Office page, live values and time-ranged lists: the latest value of each
// device's fields (GET offices/{id}/live) with the time it was measured and
// a stale mark, charging sessions and locker events (?from=&to=).
// Uses api, esc, ago and $ from app.js.
"use strict";

const RANGES = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 };
let liveRange = "7d";

const UNITS = [["_kwh", (v) => v + " kWh"], ["_wh", (v) => (v / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 }) + " kWh"],
  ["_w", (v) => (Math.abs(v) >= 1000 ? (v / 1000).toLocaleString(undefined, { maximumFractionDigits: 2 }) + " kW" : Math.round(v) + " W")],
  ["_c", (v) => v.toFixed(1) + " °C"], ["_pct", (v) => Math.round(v) + " %"], ["_ppm", (v) => Math.round(v) + " ppm"],
  ["_ugm3", (v) => v + " µg/m³"], ["_lux", (v) => Math.round(v) + " lx"], ["_hpa", (v) => Math.round(v) + " hPa"],
  ["_a", (v) => v.toFixed(1) + " A"], ["_v", (v) => Math.round(v) + " V"], ["_db", (v) => v + " dB"],
  ["_ppb", (v) => v + " ppb"], ["_dbm", (v) => v + " dBm"], ["_s", (v) => Math.round(v) + " s"]];

function unit(field, v) {
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v !== "number") return esc(v);
  const u = UNITS.find(([suffix]) => field.endsWith(suffix));
  return esc(u ? u[1](v) : v.toLocaleString());
}

// val shows one value with its measurement time on hover; stale values are
// marked so nobody mistakes them for the present.
function val(row, field, vals) {
  const v = (vals || row.values)[field];
  if (!v) return '<span class="muted">—</span>';
  const when = new Date(v.time).toLocaleString();
  return `<span class="${v.stale ? "stale" : ""}" title="${esc(field)} measured ${esc(when)}">${unit(field, v.v)}${v.stale ? " (stale)" : ""}</span>`;
}

// newest is the time of the row's most recent value.
function newest(row) {
  const ts = Object.values(row.values).map((v) => v.time).sort();
  return ts.length ? ago(ts[ts.length - 1]) : '<span class="muted">—</span>';
}

function liveTable(id, head, rows) {
  if (!rows.length) return "";
  return `<table id="${id}" class="live"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function inverterLimit(r) {
  const on = r.values.limit_active;
  if (!on) return val(r, "limit_pct");
  return on.v ? val(r, "limit_pct") + " of max" : '<span title="no curtailment">none</span>';
}

function chargerRow(r) {
  const s = r.session;
  const session = s ? `<span title="started ${esc(new Date(s.started).toLocaleString())}">${esc(s.transaction_id)} · ${esc(s.group)}${s.id_tag ? " · " + esc(s.id_tag) : ""}` +
    `${s.energy_wh != null ? " · " + unit("_wh", s.energy_wh) : ""}</span>` : '<span class="muted">none</span>';
  const a = r.allocation;
  const alloc = a ? `${val(r, "limit_a", a)} ${a.reason ? "· " + esc(a.reason.v) : ""} ${a.mode ? "· " + esc(a.mode.v) : ""} ${a.actuation ? "· " + esc(a.actuation.v) : ""}`
    : '<span class="muted">—</span>';
  return `<tr data-charger="${esc(r.device)}/${esc(r.connector)}"><td>${esc(r.device)}</td><td>${esc(r.connector)}</td>
    <td class="status">${val(r, "status")}${r.values.error_code && r.values.error_code.v !== "NoError" ? " " + val(r, "error_code") : ""}</td>
    <td class="num power">${val(r, "power_w")}</td><td>${session}</td><td class="num">${val(r, "offered_a")} ${r.values.offered_w ? val(r, "offered_w") : ""}</td>
    <td>${alloc}</td><td>${newest(r)}</td></tr>`;
}

function sensorRow(r) {
  const chips = Object.keys(r.values).sort().map((f) => `<span class="chip" data-field="${esc(f)}">${esc(f.replace(/_(c|pct|ppm|ugm3|lux|hpa|w|kwh|v|a|ppb|dbm|db)$/, ""))} ${val(r, f)}</span>`);
  return `<tr data-sensor="${esc(r.device)}"><td>${esc(r.device)}</td><td class="muted">${esc(r.measurement)}</td><td class="chips">${chips.join(" ")}</td><td>${newest(r)}</td></tr>`;
}

function lockerRow(r, comps) {
  const open = comps.filter((c) => c.device === r.device && c.values.door_open && c.values.door_open.v).map((c) => esc(c.compartment));
  const counts = ["occupied", "empty", "reserved", "open", "out_of_service", "fault"].filter((k) => r.values[k])
    .map((k) => `${k.replace(/_/g, " ")} ${val(r, k)}`).join(" · ");
  return `<tr data-locker="${esc(r.device)}"><td>${esc(r.device)}</td><td>online ${val(r, "online")} · power ${val(r, "power")}</td>
    <td>${val(r, "compartments")} · ${counts}</td><td>${open.length ? '<span class="bad">' + open.join(", ") + "</span>" : "none"}</td><td>${newest(r)}</td></tr>`;
}

function liveHTML(l) {
  const of = (m) => l.rows.filter((r) => r.measurement === m);
  const sensors = l.rows.filter((r) => ["env", "contact", "leak", "smoke", "submeter", "sensor_diag"].includes(r.measurement));
  const rules = l.rules ? `<p id="live-rules">Energy rules: budget ${val(l.rules, "budget_w")} of ${val(l.rules, "available_w")} available ·
    grid ${val(l.rules, "import_w")} · PV ${val(l.rules, "pv_w")} · band ${val(l.rules, "band")} · failsafe ${val(l.rules, "failsafe")}</p>` : "";
  const html = [
    liveTable("live-pv", ["Inverter", "AC power", "State", "Production limit", "Energy", "Measured"],
      of("pv").map((r) => `<tr><td>${esc(r.device)}</td><td class="num">${val(r, "ac_power_w")}</td><td>${val(r, "state")}</td>
        <td>${inverterLimit(r)}</td><td class="num">${val(r, "energy_wh")}</td><td>${newest(r)}</td></tr>`)),
    liveTable("live-grid", ["Meter", "Import", "Export", "Imported", "Exported", "Measured"],
      of("grid").map((r) => `<tr><td>${esc(r.device)}</td><td class="num">${val(r, "import_power_w")}</td><td class="num">${val(r, "export_power_w")}</td>
        <td class="num">${val(r, "import_energy_wh")}</td><td class="num">${val(r, "export_energy_wh")}</td><td>${newest(r)}</td></tr>`)),
    rules,
    liveTable("live-chargers", ["Charger", "Conn.", "Status", "Power", "Session", "Offered", "Rules' limit", "Measured"], of("evse").map(chargerRow)),
    liveTable("live-sensors", ["Sensor", "Kind", "Readings", "Measured"], sensors.map(sensorRow)),
    liveTable("live-lockers", ["Locker bank", "State", "Compartments", "Doors open", "Measured"], of("locker").map((r) => lockerRow(r, of("locker_compartment")))),
  ].join("");
  return html || '<p class="muted">no readings in the last 7 days</p>';
}

async function loadLive(id) {
  try {
    const { body } = await api("offices/" + encodeURIComponent(id) + "/live");
    if (state.detail === id && $("live")) $("live").innerHTML = liveHTML(body);
  } catch (e) { if ($("live")) $("live").innerHTML = `<p class="bad">live values: ${esc(e.message)}</p>`; }
}

function rangeQuery() {
  const to = new Date();
  const from = new Date(to.getTime() - RANGES[liveRange] * 3600e3);
  return "from=" + encodeURIComponent(from.toISOString().replace(/\.\d+Z$/, "Z")) + "&to=" + encodeURIComponent(to.toISOString().replace(/\.\d+Z$/, "Z"));
}

function rangeButtons() {
  return Object.keys(RANGES).map((r) => `<button type="button" data-range="${r}" class="${r === liveRange ? "on" : ""}">${r}</button>`).join(" ");
}

function lockerEventRow(e) {
  const f = e.fields || {};
  const extra = Object.keys(f).sort().map((k) => `${esc(k)}=${esc(f[k])}`).join(" ");
  return `<tr><td>${ago(e.time)}</td><td>${esc(e.device)}</td><td>${esc(e.kind)}</td><td><span class="sev ${esc(e.severity)}">${esc(e.severity)}</span></td>
    <td>${esc(e.message)}</td><td class="muted">${extra}</td></tr>`;
}

// loadRanged fills the sessions and locker events for the chosen range.
async function loadRanged(id) {
  const q = rangeQuery();
  const [sessions, events] = await Promise.all([api("offices/" + encodeURIComponent(id) + "/sessions?" + q).catch((e) => ({ body: [], err: e })),
    api("offices/" + encodeURIComponent(id) + "/locker-events?" + q).catch((e) => ({ body: [], err: e }))]);
  if (state.detail !== id || !$("sessions")) return;
  $("sessions").innerHTML = sessions.body.map((s) => `<tr><td>${ago(s.time)}</td><td>${esc(s.device)}</td><td>${esc(s.connector)}</td>
    <td>${esc(s.group)}</td><td class="num">${(s.energy_wh / 1000).toFixed(1)} kWh</td><td class="num">${Math.round(s.duration_s / 60)} min</td>
    <td>${esc(s.stop_reason)}</td></tr>`).join("") || `<tr><td colspan="7" class="muted">${sessions.err ? esc(sessions.err.message) : "no sessions"}</td></tr>`;
  $("locker-events").innerHTML = events.body.map(lockerEventRow).join("") ||
    `<tr><td colspan="6" class="muted">${events.err ? esc(events.err.message) : "no locker events"}</td></tr>`;
}

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("[data-range]");
  if (!t || !state.detail) return;
  ev.preventDefault();
  liveRange = t.dataset.range;
  document.querySelectorAll("[data-range]").forEach((b) => b.classList.toggle("on", b.dataset.range === liveRange));
  loadRanged(state.detail);
});
