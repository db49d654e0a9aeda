// Office page: live state, charts (uPlot, vendored), sessions, alarms and
// remote commands. Uses api, esc, ago, fmt, state, $ and alarmRow from app.js,
// loadLive, loadRanged and rangeButtons from live.js.
"use strict";

const ACTIONS = {
  charger_reset: '{"hard": false}', charger_unlock: '{"connector": 1}', charger_start: '{"connector": 1, "id_tag": ""}',
  charger_stop: '{"transaction_id": ""}', charger_limit: '{"connector": 1, "amps": 16, "minutes": 60}',
  charger_mode: '{"mode": "pv"}', locker_open: '{"compartment": "", "reason": ""}',
  inverter_limit: '{"pct": 50}', inverter_limit_clear: "{}", rule_param: '{"name": "contracted_kw", "value": 6}',
};
let charts = [];

function officeLive(o) {
  const devs = Object.entries(o.devices || {}).sort().map(([d, h]) =>
    `<li>${esc(d)}: <span class="${h === "ok" ? "online" : "bad"}">${esc(h)}</span></li>`).join("");
  return `<p>${esc(o.comune)} (${esc(o.province)}), ${esc(o.region)} · ${o.online ? '<span class="online">online</span>' : '<span class="offline">offline</span>'}
    · edge ${esc(o.version || "?")} · backlog ${fmt(o.backlog)} samples · last seen ${ago(o.last_seen)} · last batch ${ago(o.last_batch)}
    · config ${o.config ? `v${o.config.applied} applied / v${o.config.desired} desired${o.config.outcome === "refused" ? ' <span class="bad">(refused: ' + esc(o.config.reason) + ")</span>" : ""}` : "local"}</p>
    <div class="cols"><div><h3>Devices</h3><ul id="devices">${devs || '<li class="muted">none reported</li>'}</ul></div>
    <div class="grow"><h3>Open alarms</h3><table><tbody>${o.open_alarms.map(alarmRow).join("") || '<tr><td class="muted">none</td></tr>'}</tbody></table></div></div>`;
}

function commandRows(list) {
  return list.slice(0, 10).map((c) => `<tr><td>${ago(c.issued)}</td><td>${esc(c.user)}</td><td>${esc(c.action)}</td><td>${esc(c.device)}</td>
    <td class="cmdstatus ${c.status === "done" ? "online" : c.status === "sent" ? "" : "bad"}">${esc(c.status)}</td><td>${esc(c.reason)}</td></tr>`).join("")
    || '<tr><td colspan="6" class="muted">no commands yet</td></tr>';
}

async function showOffice(id, full) {
  // A refresh only updates the office page on display: falling through to a
  // full render would redraw the page under the user's hands (wiping a
  // command's answer) when the refresh overtakes the click that opens it.
  if (!full && (state.detail !== id || !$("office-live"))) return;
  state.detail = id;
  const { body: o } = await api("offices/" + encodeURIComponent(id));
  if (!full) {
    if (state.detail !== id || !$("office-live")) return;
    $("office-live").innerHTML = officeLive(o);
    const { body: cmds } = await api("offices/" + encodeURIComponent(id) + "/commands");
    $("commands").innerHTML = commandRows(cmds);
    await Promise.all([loadLive(id), loadRanged(id)]);
    return;
  }
  const devices = Object.keys(o.devices || {}).sort();
  $("detail").innerHTML = `<h2>Office ${esc(o.id)} — ${esc(o.name)} <button type="button" id="closedetail">×</button></h2>
    <div id="office-live">${officeLive(o)}</div>
    <h3>Live values</h3><div id="live"><p class="muted">loading…</p></div>
    <h3>Charts <button type="button" data-span="24h" class="${state.span === "24h" ? "on" : ""}">24 h</button>
      <button type="button" data-span="7d" class="${state.span === "7d" ? "on" : ""}">7 days</button> <span id="charterr" class="bad"></span></h3>
    <div id="chart-power" class="chart"></div><div id="chart-env" class="chart"></div>
    <h3>Remote command</h3>
    <form id="cmd-form" class="filters">
      <label>Device <select id="cmd-device">${devices.concat(["rules"]).map((d) => `<option>${esc(d)}</option>`).join("")}</select></label>
      <label>Action <select id="cmd-action">${Object.keys(ACTIONS).map((a) => `<option>${a}</option>`).join("")}</select></label>
      <label class="grow">Parameters (JSON) <input id="cmd-params" value='${ACTIONS.charger_reset}'></label>
      <button type="submit" id="cmd-send">Send</button> <span id="cmd-result" role="status"></span>
    </form>
    <table><thead><tr><th>Sent</th><th>By</th><th>Action</th><th>Device</th><th>Status</th><th>Reason</th></tr></thead><tbody id="commands"></tbody></table>
    <h3>Charging sessions and locker events, last ${rangeButtons()}</h3>
    <table><thead><tr><th>Stopped</th><th>Charger</th><th>Conn.</th><th>Group</th><th class="num">Energy</th><th class="num">Duration</th><th>Reason</th></tr></thead>
      <tbody id="sessions"></tbody></table>
    <h3>Locker events</h3>
    <table><thead><tr><th>Time</th><th>Bank</th><th>Event</th><th>Severity</th><th>Message</th><th>Details</th></tr></thead>
      <tbody id="locker-events"></tbody></table>`;
  $("detail").hidden = false;
  $("cmd-action").addEventListener("change", () => { $("cmd-params").value = ACTIONS[$("cmd-action").value]; });
  const { body: cmds } = await api("offices/" + encodeURIComponent(id) + "/commands");
  $("commands").innerHTML = commandRows(cmds);
  await Promise.all([loadLive(id), loadRanged(id)]);
  drawCharts(id);
}

async function drawCharts(id) {
  charts.forEach((c) => c.destroy());
  charts = [];
  try {
    const { body: ch } = await api("offices/" + encodeURIComponent(id) + "/chart?span=" + state.span);
    const t = ch.times.map((ms) => ms / 1000);
    const s = ch.series;
    const width = Math.max(320, $("detail").clientWidth - 40);
    const line = (label, stroke, scale) => ({ label, stroke, width: 1.5, scale, spanGaps: false });
    charts.push(new uPlot({ width, height: 220, title: "Power (W)",
      series: [{}, line("PV", "#e8a317"), line("Grid import", "#b42318"), line("Grid export", "#1a7f37"), line("EV", "#0047bb")] },
      [t, s.pv_w, s.grid_import_w, s.grid_export_w, s.ev_w], $("chart-power")));
    charts.push(new uPlot({ width, height: 180, title: "Indoor climate",
      scales: { c: {}, ppm: {} }, axes: [{}, { scale: "c", label: "°C" }, { scale: "ppm", side: 1, label: "CO₂ ppm", grid: { show: false } }],
      series: [{}, line("Temperature °C", "#7a3db8", "c"), line("CO₂ ppm", "#0a8f8f", "ppm")] },
      [t, s.temperature_c, s.co2_ppm], $("chart-env")));
  } catch (e) { $("charterr").textContent = "charts: " + e.message; }
}

document.addEventListener("submit", async (ev) => {
  if (ev.target.id !== "cmd-form") return;
  ev.preventDefault();
  $("cmd-result").textContent = "";
  try {
    const params = JSON.parse($("cmd-params").value || "{}");
    const { body: c } = await api("offices/" + encodeURIComponent(state.detail) + "/commands",
      { method: "POST", body: { action: $("cmd-action").value, device: $("cmd-device").value, params } });
    $("cmd-result").textContent = "sent (" + c.id + "), waiting for the office…";
    $("cmd-result").className = "";
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const { body: r } = await api("commands/" + encodeURIComponent(c.id));
      if (r.status !== "sent") {
        $("cmd-result").textContent = r.status + (r.reason ? ": " + r.reason : "");
        $("cmd-result").className = r.status === "done" ? "online" : "bad";
        break;
      }
    }
    showOffice(state.detail, false);
  } catch (e) {
    $("cmd-result").textContent = "refused: " + e.message;
    $("cmd-result").className = "bad";
  }
});
