package fleet

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// browser starts headless Chromium (Debian's chromium, installed by `make
// system-deps`) for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("chromium not installed (make system-deps): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// recentTelemetry is a day of 10-minute samples ending now, so the office
// page has charts.
func recentTelemetry(t *testing.T, office string, seq uint64) uplink.Batch {
	t.Helper()
	var lines []byte
	now := time.Now().Truncate(time.Minute)
	n := 0
	for i := 144; i >= 1; i-- {
		ts := now.Add(-time.Duration(i) * 10 * time.Minute)
		h := float64(ts.Hour())
		pv := max(0, 6000-600*(h-13)*(h-13))
		for _, s := range []sample.Sample{
			{Measurement: "pv", Tags: map[string]string{sample.TagDevice: "inv1"}, Fields: map[string]any{"ac_power_w": pv}, Time: ts},
			{Measurement: "grid", Tags: map[string]string{sample.TagDevice: "m1"}, Fields: map[string]any{"import_power_w": max(0, 2500-pv), "export_power_w": max(0, pv-2500)}, Time: ts},
			{Measurement: "evse", Tags: map[string]string{sample.TagDevice: "CP01", "connector": "1"}, Fields: map[string]any{"power_w": float64(7000 * (i % 3 / 2))}, Time: ts},
			{Measurement: "env", Tags: map[string]string{sample.TagDevice: "s1"}, Fields: map[string]any{"temperature_c": 20 + h/6, "co2_ppm": 450 + 40*h}, Time: ts},
		} {
			var err error
			if lines, err = s.AppendLine(lines); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	ev := sample.Event("locker1", "locker_tamper", sample.SeverityCritical, "door forced", now, nil)
	lines, _ = ev.AppendLine(lines)
	n++
	return uplink.Batch{Office: office, Seq: seq, Last: seq + uint64(n) - 1, Count: n, Lines: lines}
}

// liveTelemetry is what the office page's live values show: a charging
// session on CP01/1 with the rules' limit, a fresh sensor reading and one
// two hours old (stale), a locker bank and a locker event.
func liveTelemetry(t *testing.T, office string, seq uint64) uplink.Batch {
	t.Helper()
	now := time.Now().Add(-time.Second)
	dev := func(d string, more ...string) map[string]string {
		m := map[string]string{sample.TagDevice: d}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i]] = more[i+1]
		}
		return m
	}
	var lines []byte
	ss := []sample.Sample{
		{Measurement: "evse", Tags: dev("CP01", "connector", "1"), Fields: map[string]any{"status": "Charging"}, Time: now.Add(-30 * time.Minute)},
		{Measurement: "session", Tags: dev("CP01", "connector", "1", "group", "fleet"), Fields: map[string]any{"state": "started", "transaction_id": "tx-4711"}, Time: now.Add(-30 * time.Minute)},
		{Measurement: "evse", Tags: dev("CP01", "connector", "1"), Fields: map[string]any{"power_w": 7200.0, "offered_a": 16.0, "session_energy_wh": 3400.0, "transaction_id": "tx-4711"}, Time: now},
		{Measurement: "rules", Tags: dev("CP01", "connector", "1"), Fields: map[string]any{"limit_a": 16.0, "reason": "headroom", "mode": "now", "actuation": "confirmed"}, Time: now},
		{Measurement: "rules", Tags: dev("rules"), Fields: map[string]any{"budget_w": 11000.0, "available_w": 16500.0, "import_w": 5200.0, "pv_w": 0.0, "band": "F3", "failsafe": false}, Time: now},
		{Measurement: "session", Tags: dev("CP01", "connector", "2", "group", "public"), Fields: map[string]any{"state": "stopped", "transaction_id": "tx-4700",
			"energy_wh": 18500.0, "duration_s": 5400.0, "stop_reason": "EVDisconnected"}, Time: now.Add(-3 * time.Hour)},
		{Measurement: "env", Tags: dev("s1"), Fields: map[string]any{"temperature_c": 23.4, "co2_ppm": 912.0}, Time: now},
		{Measurement: "env", Tags: dev("s2"), Fields: map[string]any{"humidity_pct": 55.0}, Time: now.Add(-2 * time.Hour)},
		{Measurement: "locker", Tags: dev("locker1"), Fields: map[string]any{"online": true, "power": "mains", "compartments": int64(40), "occupied": int64(12)}, Time: now},
		sample.Event("locker1", "locker_deposit", sample.SeverityInfo, "parcel deposited", now.Add(-5*time.Minute), map[string]any{"compartment": "C17", "event_id": "ev-1"}).Distinct("ev-1"),
	}
	for _, s := range ss {
		var err error
		if lines, err = s.AppendLine(lines); err != nil {
			t.Fatal(err)
		}
	}
	return uplink.Batch{Office: office, Seq: seq, Last: seq + uint64(len(ss)) - 1, Count: len(ss), Lines: lines}
}

// TestDashboardInBrowser drives the dashboard in headless Chromium: sign in,
// filter by region, open an office (charts drawn), acknowledge an alarm,
// send a command that the office answers, and see a viewer refused.
// POLIS_SCREENSHOTS=1 writes docs/fleet-overview.png and docs/fleet-office.png.
func TestDashboardInBrowser(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, testConfig(in))
	f.Users().SetCost(4)
	for _, u := range []struct {
		name string
		role users.Role
	}{{"olga", users.Operator}, {"guest", users.Viewer}} {
		if err := f.Users().Add(u.name, "password-of-"+u.name, u.role, users.Scope{}); err != nil {
			t.Fatal(err)
		}
	}
	o := mustOffice(t, f.Addrs().MQTT, "10001", "secret-a")
	if err := o.subscribeAcks("10001"); err != nil {
		t.Fatal(err)
	}
	// The office answers every command it gets: done.
	o.c.Subscribe(uplink.Topic("10001", uplink.KindCmd), 1, func(c paho.Client, m paho.Message) {
		cmd, err := uplink.DecodeCommand(m.Payload())
		if err != nil {
			return
		}
		res, _ := json.Marshal(uplink.CommandResult{ID: cmd.ID, Status: uplink.CmdDone, At: time.Now()})
		c.Publish(uplink.Topic("10001", uplink.KindCmdResult), 1, false, res)
	}).WaitTimeout(deadline)
	st, _ := json.Marshal(uplink.Status{Office: "10001", Online: true, Version: "1.4.0", Time: time.Now(), Backlog: 12,
		Devices: map[string]string{"CP01": "ok", "inv1": "ok", "m1": "ok", "s1": "ok", "locker1": "ok"}})
	o.publish(t, uplink.Topic("10001", uplink.KindStatus), st)
	b := recentTelemetry(t, "10001", 1)
	o.sendBatch(t, b)
	if a := o.waitAck(t, 1); a.Status != uplink.AckOK {
		t.Fatalf("telemetry ack: %+v", a)
	}
	live := liveTelemetry(t, "10001", b.Last+1)
	o.sendBatch(t, live)
	if a := o.waitAck(t, live.Seq); a.Status != uplink.AckOK {
		t.Fatalf("live telemetry ack: %+v", a)
	}
	eventually(t, "the alarm", func() bool { return f.alarms.OpenCount() == 1 })

	ctx := browser(t)
	base := "http://" + f.Addrs().HTTP + "/"
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	until := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
			// What the page showed, so a failure says more than "timeout".
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			page, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`(document.querySelector("#cmd-result")||{}).innerText + " | " + document.body.innerText.slice(0, 600)`))
			t.Fatalf("waiting for %s: %v\npage: %s", what, err, page)
		}
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return s
	}
	signIn := func(user string) {
		t.Helper()
		step("sign in as "+user,
			chromedp.Navigate(base),
			chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SetValue(chromedp.ID("user"), user),
			chromedp.SetValue(chromedp.ID("password"), "password-of-"+user),
			chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
			chromedp.WaitVisible(chromedp.ID("app")))
	}
	signIn("olga")
	until("regions", `document.querySelector("#region").innerHTML.includes("Lazio")`)
	step("filter by region",
		chromedp.SetValue(chromedp.ID("region"), "Lazio"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#region").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	until("only Lazio offices", `!document.querySelector("#offices").innerText.includes("20002") && document.querySelector("#offices").innerText.includes("10001")`)
	until("energy in the overview", `document.querySelector("#regions").innerText.includes("kWh")`)
	if ov := text("regions"); !strings.Contains(ov, "Lazio") {
		t.Fatalf("overview: %q", ov)
	}
	screenshot(t, ctx, "fleet-overview.png")

	step("open the office", chromedp.Click(chromedp.CSS(`a[data-office="10001"]`)),
		chromedp.WaitVisible(chromedp.ID("office-live")), chromedp.WaitVisible(chromedp.CSS(`#chart-power .uplot`)))
	// Live values, as the simulated office sent them, with stale marks.
	until("the charger's live status and power", `(document.querySelector('#live-chargers tr[data-charger="CP01/1"]') || {innerText: ""}).innerText.includes("Charging")`)
	charger := textOf(t, ctx, `#live-chargers tr[data-charger="CP01/1"]`)
	for _, want := range []string{"Charging", "7.2 kW", "tx-4711", "fleet", "3.4 kWh", "16.0 A", "headroom", "confirmed"} {
		if !strings.Contains(charger, want) {
			t.Errorf("charger row lacks %q: %q", want, charger)
		}
	}
	if strings.Contains(charger, "stale") {
		t.Errorf("a status held since a change 30 min ago, office online, marked stale: %q", charger)
	}
	if s1 := textOf(t, ctx, `#live-sensors tr[data-sensor="s1"]`); !strings.Contains(s1, "23.4 °C") || !strings.Contains(s1, "912 ppm") || strings.Contains(s1, "stale") {
		t.Errorf("sensor s1: %q", s1)
	}
	if s2 := textOf(t, ctx, `#live-sensors tr[data-sensor="s2"]`); !strings.Contains(s2, "55 % (stale)") {
		t.Errorf("sensor s2, two hours old: %q", s2)
	}
	if l := textOf(t, ctx, `#live-lockers tr[data-locker="locker1"]`); !strings.Contains(l, "mains") || !strings.Contains(l, "occupied 12") {
		t.Errorf("locker bank: %q", l)
	}
	if r := text("live-rules"); !strings.Contains(r, "budget 11 kW") || !strings.Contains(r, "F3") {
		t.Errorf("the rules' office-level decision: %q", r)
	}
	until("the locker event", `document.querySelector("#locker-events").innerText.includes("locker_deposit")`)
	if ev := text("locker-events"); !strings.Contains(ev, "compartment=C17") || !strings.Contains(ev, "locker_tamper") {
		t.Errorf("locker events: %q", ev)
	}
	if ss := text("sessions"); !strings.Contains(ss, "18.5 kWh") || !strings.Contains(ss, "EVDisconnected") {
		t.Errorf("charging sessions: %q", ss)
	}
	step("acknowledge", chromedp.SetValue(chromedp.ID("ack-comment"), "technician on the way"),
		chromedp.Click(chromedp.CSS(`#alarms button.ack`)))
	until("the alarm acknowledged", `document.querySelector("#alarms").innerText.includes("ack by olga")`)
	step("send a command", chromedp.SetValue(chromedp.ID("cmd-device"), "CP01"), chromedp.Click(chromedp.ID("cmd-send")))
	until("the command result", `document.querySelector("#cmd-result").innerText.startsWith("done")`)
	al := f.alarms.Open(alarms.Query{})
	if len(al) != 1 || !al[0].Acked || al[0].AckedBy != "olga" || al[0].AckComment != "technician on the way" {
		t.Fatalf("alarm after the browser's ack: %+v", al)
	}
	screenshot(t, ctx, "fleet-office.png")

	// A viewer: no acknowledge button, and the command is refused.
	step("sign out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	signIn("guest")
	until("offices", `document.querySelector("#offices").innerText.includes("10001")`)
	// Wait until the page has settled (live values and charts drawn above
	// the form): a click computed before the layout shifts lands elsewhere.
	step("viewer opens the office", chromedp.Click(chromedp.CSS(`a[data-office="10001"]`)), chromedp.WaitVisible(chromedp.ID("cmd-send")),
		chromedp.WaitVisible(chromedp.CSS(`#chart-power .uplot`)))
	until("the viewer's live values", `!document.querySelector("#live").innerText.includes("loading")`)
	acks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("button.ack").length`))
	if err != nil {
		t.Fatal(err)
	}
	step("viewer sends a command", chromedp.Click(chromedp.ID("cmd-send")))
	until("the refusal", `document.querySelector("#cmd-result").innerText.startsWith("refused")`)
	if refused := text("cmd-result"); acks != 0 || !strings.Contains(refused, "operator") {
		t.Fatalf("viewer: %d ack buttons, command answer %q", acks, refused)
	}
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("POLIS_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
