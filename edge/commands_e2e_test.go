package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/fleet/commands"
	fleetconfig "github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/testserver"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// simOffice is an office with every kind of device the fleet can command,
// each a real simulator on loopback: a SunSpec inverter and meter (Modbus
// TCP), a locker bank on the office broker (MQTT), a charge point (OCPP
// 1.6J) and a second charger that never connects; the edge runs the rules
// and talks to a real fleet.
type simOffice struct {
	in        *testserver.InfluxDB
	f         *runningFleet
	base      string
	token     string
	edge      *servedEdge
	site      config.Config // the edge config, for restarts
	dir       string        // its data_dir
	devices   string        // its device and rules sections (YAML)
	modbus    *modbussim.Sim
	bank      *mqttsim.Bank
	stopBank  func()
	brokerURL string // the office broker, where the bank connects
	cp        *ocppsim.ChargePoint
}

func startSimOffice(t *testing.T) *simOffice {
	t.Helper()
	return startSimOfficeWith(t, func(*fleetconfig.Config) {})
}

// startSimOfficeWith starts the office with a fleet whose config edit
// adjusted.
func startSimOfficeWith(t *testing.T, edit func(*fleetconfig.Config)) *simOffice {
	t.Helper()
	in := testserver.Influx(t)
	o := &simOffice{f: startFleetWith(t, in, edit), in: in}
	if err := o.f.Users().Add("op", "operator-password", users.Operator, users.Scope{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if o.token, _, err = o.f.Users().NewToken("op", "test"); err != nil {
		t.Fatal(err)
	}
	o.base = "http://" + o.f.Addrs().HTTP
	// At night (no PV): the inverter is there to be curtailed, the meter
	// drives the rules.
	sim, err := modbussim.New(modbussim.Config{Clock: "2026-11-24T22:00:00+01:00", BaseLoadW: 1500,
		Devices: []modbussim.DeviceConfig{{Name: "inv1", Type: modbussim.TypeInverter}, {Name: "meter1", Type: modbussim.TypeMeter}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	o.modbus = sim
	// Fixed office broker and OCPP ports: the simulators find the office
	// again after its restart.
	ports, err := testserver.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	o.dir = dataDir(t)
	o.devices = fmt.Sprintf(`
modbus:
  buses:
    - {id: roof, url: "tcp://%s", timeout: 1s}
    - {id: cabinet, url: "tcp://%s", timeout: 1s}
  devices:
    - {id: inv1, bus: roof, unit: 1, kind: inverter, poll: 300ms, sunspec: true, max_power_w: 30000}
    - {id: grid, bus: cabinet, unit: 1, kind: meter, poll: 300ms, sunspec: true, max_power_w: 60000}
mqtt:
  listen: 127.0.0.1:%d
  command_timeout: 3s
  operators:
    - {username: op, password: "op-locker-pass", may_open: ["bank1/A*"]}
  devices:
    - {id: bank1, kind: locker, password: bank-pass}
ocpp:
  listen: 127.0.0.1:%d
  security_profile: 1
  meter_sample_interval: 1s
  chargers:
    - {id: CP01, password: "sixteen-chars-pw", connectors: 1}
    - {id: CP02, password: "sixteen-chars-pw", connectors: 1}
  auth: {unknown_tags: accept_public}
rules:
  contracted_kw: 10
  grid_meter: grid
  cycle: 200ms
  meter_stale_after: 3s
  ramp_a_per_s: 50
  min_on: 1s
  min_off: 1s
`, sim.Addr("inv1"), sim.Addr("meter1"), ports[0], ports[1])
	site := parseEdge(t, o.dir, o.f.Addrs().MQTT, o.devices)
	o.site, o.edge = site, serveEdge(t, site)
	d := o.edge.running(t, 1)
	o.brokerURL = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	o.startBank(t)
	o.cp, err = ocppsim.New(ocppsim.Config{
		URL: fmt.Sprintf("ws://127.0.0.1:%d/ocpp", ports[1]), ID: "CP01", Password: "sixteen-chars-pw",
		MeterInterval: time.Second, ProfileDelay: 100 * time.Millisecond, Tick: 100 * time.Millisecond,
	}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	sim.SetChargerPower(ocppsim.TotalPower(o.cp))
	go o.cp.Run(t.Context())
	waitFor(t, 30*time.Second, "the charger to connect", o.cp.Connected)
	waitFor(t, 60*time.Second, "the fleet to know every device", func() bool {
		of, ok := o.f.Office(testOffice)
		for _, id := range []string{"CP01", "CP02", "bank1", "inv1", "grid"} {
			if _, known := of.Devices[id]; !known {
				return false
			}
		}
		return ok && of.Online && d.Rules().Allocation().AvailableW > 0
	})
	return o
}

// startBank connects a fresh locker bank controller to the office broker.
// Tests stop it before the broker goes away rather than letting it
// reconnect: paho 1.5.0 races in resume() on a reconnect with a publish in
// flight (eclipse-paho/paho.mqtt.golang#703), which -race reports.
func (o *simOffice) startBank(t *testing.T) {
	o.bank = mqttsim.NewBank(mqttsim.BankConfig{ID: "bank1", Password: "bank-pass", Compartments: 12}, o.brokerURL, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { o.bank.Run(ctx); close(done) }()
	o.stopBank = func() { cancel(); <-done }
	t.Cleanup(o.stopBank)
}

// send posts a command through the fleet API and waits for its final record.
func (o *simOffice) send(t *testing.T, id, action, device string, params map[string]any) commands.Record {
	t.Helper()
	body := map[string]any{"id": id, "action": action, "device": device, "ttl_s": 60}
	if params != nil {
		body["params"] = params
	}
	code, rec := fleetCommand(t, o.base, o.token, body)
	if code/100 != 2 {
		t.Fatalf("%s %s: HTTP %d", action, device, code)
	}
	waitFor(t, 60*time.Second, action+" result", func() bool { rec = fleetRecord(t, o.base, o.token, id); return rec.Final() })
	return rec
}

func wantStatus(t *testing.T, rec commands.Record, status, reason string) {
	t.Helper()
	if rec.Status != status || !strings.Contains(rec.Reason, reason) {
		t.Fatalf("%s %s: fleet recorded %q (%s), want %q with %q", rec.Action, rec.ID, rec.Status, rec.Reason, status, reason)
	}
}

// TestRemoteCommandsReachSimulatedDevices: every remote command goes from
// the fleet API over the MQTT cmd topic to the edge's drivers and the real
// simulators; each test step checks what the device did and the result the
// fleet recorded.
func TestRemoteCommandsReachSimulatedDevices(t *testing.T) {
	o := startSimOffice(t)
	d := o.edge.running(t, 1)
	defer func() {
		if t.Failed() {
			b, _ := json.Marshal(d.Rules().Allocation())
			t.Logf("allocation %s\nCP01 %+v", b, o.cp.Connector(1))
		}
	}()

	// Locker: through the locker authorisation (op may open A*), once per id.
	wantStatus(t, o.send(t, "open-1", "locker_open", "bank1", map[string]any{"compartment": "A03", "reason": "customer lost code"}), wire.CmdDone, "")
	if n := o.bank.Executed(); n != 1 {
		t.Fatalf("bank executed %d commands, want 1", n)
	}
	if code, again := fleetCommand(t, o.base, o.token, map[string]any{"id": "open-1", "action": "locker_open", "device": "bank1",
		"params": map[string]any{"compartment": "A03", "reason": "customer lost code"}}); code != 200 || again.Status != wire.CmdDone {
		t.Fatalf("retry of open-1: %d %+v", code, again)
	}
	redelivered := wire.Command{ID: "open-1", Action: "locker_open", Device: "bank1", User: "op",
		Params: []byte(`{"compartment":"A03","reason":"customer lost code"}`), Issued: time.Now(), Expires: time.Now().Add(time.Minute)}
	if res := d.runCommand(Operator{Name: "fleet:op", Role: "operator"}, redelivered); res.Status != wire.CmdDone {
		t.Fatalf("redelivered open-1: %+v", res)
	}
	if n := o.bank.Executed(); n != 1 {
		t.Fatalf("bank executed %d commands after retries, want 1", n)
	}
	wantStatus(t, o.send(t, "open-2", "locker_open", "bank1", map[string]any{"compartment": "B01", "reason": "curious"}), wire.CmdRefused, "not authorised")
	if n := o.bank.Executed(); n != 1 {
		t.Fatalf("an unauthorised open reached the bank (%d executed)", n)
	}
	if steps, err := d.MQTT().Audit("open-1"); err != nil || len(steps) == 0 || steps[0].Operator != "op" {
		t.Fatalf("locker audit of open-1: %+v %v", steps, err)
	}
	if n := commandAudits(t, d, "locker_open", "bank1"); n != 2 {
		t.Fatalf("edge audit has %d locker_open entries, want 2 (open-1 once, open-2)", n)
	}

	if err := o.f.Users().Add("root", "admin-password", users.Admin, users.Scope{}); err != nil {
		t.Fatal(err)
	}
	rootToken, _, err := o.f.Users().NewToken("root", "test")
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	waitFor(t, 30*time.Second, "the results in the fleet's audit trail", func() bool {
		for _, en := range fleetAudit(t, o.base, rootToken) {
			if en.Action == "command_result" && en.User == "op" {
				results[en.Target] = en.Result + ": " + en.Error
			}
		}
		return results["open-1"] != "" && results["open-2"] != ""
	})
	if results["open-1"] != "done: " || !strings.Contains(results["open-2"], "refused: ") || !strings.Contains(results["open-2"], "not authorised") {
		t.Fatalf("the fleet's audit trail of the results: %v", results)
	}

	// Charger session: start, then the rules' override, mode, parameters.
	wantStatus(t, o.send(t, "start-1", "charger_start", "CP01", map[string]any{"connector": 1, "id_tag": "CAFE01"}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "a session on CP01", func() bool { v := o.cp.Connector(1); return v.TxID != "" && v.Status == "Charging" })
	wantStatus(t, o.send(t, "limit-1", "charger_limit", "CP01", map[string]any{"connector": 1, "amps": 8, "minutes": 30}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the charger limited to 8 A", func() bool { v := o.cp.Connector(1); return v.LimitUnit == "A" && v.LimitValue == 8 })
	wantStatus(t, o.send(t, "limit-2", "charger_limit", "CP01", map[string]any{"connector": 1, "amps": 0, "minutes": 0}), wire.CmdDone, "") // clears the override
	wantStatus(t, o.send(t, "mode-1", "charger_mode", "CP01", map[string]any{"mode": "off"}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the charger at 0 A in mode off", func() bool { return o.cp.Connector(1).LimitValue == 0 })
	wantStatus(t, o.send(t, "mode-2", "charger_mode", "CP01", map[string]any{"mode": "turbo"}), wire.CmdRefused, "turbo")
	wantStatus(t, o.send(t, "mode-3", "charger_mode", "CP01", map[string]any{"mode": "now"}), wire.CmdDone, "")
	wantStatus(t, o.send(t, "kw-1", "rule_param", "rules", map[string]any{"name": "contracted_kw", "value": 20}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the rules at 20 kW", func() bool { return d.Rules().Allocation().AvailableW > 20000 })
	wantStatus(t, o.send(t, "kw-2", "rule_param", "rules", map[string]any{"name": "contracted_kw", "value": -1}), wire.CmdRefused, "contracted_kw")
	tx := o.cp.Connector(1).TxID
	wantStatus(t, o.send(t, "stop-1", "charger_stop", "CP01", map[string]any{"transaction_id": tx}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the session stopped", func() bool { return o.cp.Connector(1).TxID == "" })
	wantStatus(t, o.send(t, "stop-2", "charger_stop", "CP01", map[string]any{"transaction_id": tx}), wire.CmdRefused, "Rejected")

	// Unlock ends a session on the connector; reset reboots the charger.
	wantStatus(t, o.send(t, "start-2", "charger_start", "CP01", map[string]any{"connector": 1, "id_tag": "CAFE01"}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "a second session", func() bool { return o.cp.Connector(1).TxID != "" })
	wantStatus(t, o.send(t, "unlock-1", "charger_unlock", "CP01", map[string]any{"connector": 1}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the cable released", func() bool { return o.cp.Connector(1).TxID == "" })
	boots := o.cp.Boots()
	wantStatus(t, o.send(t, "reset-1", "charger_reset", "CP01", map[string]any{"hard": true}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the charger rebooted", func() bool { return o.cp.Boots() > boots })
	wantStatus(t, o.send(t, "reset-2", "charger_reset", "CP02", nil), wire.CmdDeviceOffline, "")

	// Curtailment over SunSpec.
	wantStatus(t, o.send(t, "curtail-1", "inverter_limit", "inv1", map[string]any{"pct": 40}), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the inverter limited to 40 %", func() bool { p, _ := o.modbus.InverterLimitPct("inv1"); return p == 40 })
	wantStatus(t, o.send(t, "curtail-2", "inverter_limit", "inv1", map[string]any{"pct": 140}), wire.CmdRefused, "")
	wantStatus(t, o.send(t, "curtail-3", "inverter_limit_clear", "inv1", nil), wire.CmdDone, "")
	waitFor(t, 30*time.Second, "the inverter back to 100 %", func() bool { p, _ := o.modbus.InverterLimitPct("inv1"); return p == 100 })

	// The locker bank goes away: an open is device_offline, not a bare time-out.
	o.stopBank()
	waitFor(t, 30*time.Second, "the bank offline at the edge", func() bool { return d.deviceState("bank1") == health.Offline })
	wantStatus(t, o.send(t, "open-3", "locker_open", "bank1", map[string]any{"compartment": "A04", "reason": "parcel stuck"}), wire.CmdDeviceOffline, "bank1 is offline")
	// A TTL shorter than the locker's command timeout: timed_out.
	code, rec := fleetCommand(t, o.base, o.token, map[string]any{"id": "open-4", "action": "locker_open", "device": "bank1",
		"params": map[string]any{"compartment": "A05", "reason": "parcel stuck"}, "ttl_s": 1})
	if code != 202 {
		t.Fatalf("open-4: %d", code)
	}
	waitFor(t, 30*time.Second, "open-4 answered", func() bool { rec = fleetRecord(t, o.base, o.token, "open-4"); return rec.Final() })
	wantStatus(t, rec, wire.CmdTimedOut, "")
	if n := o.bank.Executed(); n != 1 {
		t.Fatalf("bank executed %d commands, want 1", n)
	}
}

// TestRemoteCommandExpiresWhileOfficeOffline: a command to an office that
// is down expires after its TTL (timed_out in the fleet) and is never
// executed when the office returns; the device sees nothing.
func TestRemoteCommandExpiresWhileOfficeOffline(t *testing.T) {
	o := startSimOffice(t)
	o.stopBank()
	o.edge.stop()
	waitFor(t, 30*time.Second, "office offline", func() bool { of, _ := o.f.Office(testOffice); return !of.Online })
	boots := o.cp.Boots()
	for _, c := range []map[string]any{
		{"id": "late-open", "action": "locker_open", "device": "bank1", "params": map[string]any{"compartment": "A01", "reason": "parcel stuck"}, "ttl_s": 1},
		{"id": "late-reset", "action": "charger_reset", "device": "CP01", "ttl_s": 1},
	} {
		if code, _ := fleetCommand(t, o.base, o.token, c); code != 202 {
			t.Fatalf("send %v: %d", c["id"], code)
		}
	}
	for _, id := range []string{"late-open", "late-reset"} {
		waitFor(t, 30*time.Second, id+" timed out", func() bool { return fleetRecord(t, o.base, o.token, id).Final() })
		wantStatus(t, fleetRecord(t, o.base, o.token, id), wire.CmdTimedOut, "never executes it late")
	}
	e := serveEdge(t, o.site)
	d := e.running(t, 1)
	o.startBank(t) // a late open would reach this one
	waitFor(t, 60*time.Second, "office back online with its devices", func() bool {
		of, _ := o.f.Office(testOffice)
		return of.Online && o.cp.Connected() && d.deviceState("bank1") == health.OK
	})
	// A command after the return proves the path works and is ordered after
	// any late delivery of the expired ones.
	wantStatus(t, o.send(t, "after-1", "locker_open", "bank1", map[string]any{"compartment": "A02", "reason": "parcel stuck"}), wire.CmdDone, "")
	if n := o.bank.Executed(); n != 1 {
		t.Fatalf("bank executed %d commands, want 1 (the expired open ran late?)", n)
	}
	if b := o.cp.Boots(); b != boots {
		t.Fatalf("charger booted %d times since, want 0 (the expired reset ran late?)", b-boots)
	}
	if n := commandAudits(t, d, "charger_reset", "CP01"); n != 0 {
		t.Fatalf("edge executed the expired reset (%d audit entries)", n)
	}
}

// TestRemoteConfigRestartKeepsDevicePorts: a pushed config applied by an
// in-process restart binds the office broker and the OCPP endpoint on the
// same fixed ports again (as in production), and the devices come back.
func TestRemoteConfigRestartKeepsDevicePorts(t *testing.T) {
	o := startSimOffice(t)
	admin := "root"
	if err := o.f.Users().Add(admin, "admin-password", users.Admin, users.Scope{}); err != nil {
		t.Fatal(err)
	}
	token, _, err := o.f.Users().NewToken(admin, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The bank is stopped across the restart (see startBank).
	o.stopBank()
	push := strings.Replace(edgeYAML(o.dir, o.f.Addrs().MQTT, testPassword, "", o.devices), "telemetry: {interval: 1h}", "telemetry: {interval: 2h}", 1)
	pushConfig(t, o.base, token, push)
	waitFor(t, 60*time.Second, "version 1 applied", func() bool { return fleetConfig(t, o.base, token).Status.Applied == 1 })
	d := o.edge.running(t, 2)
	if d.Config().Telemetry.Interval != 2*time.Hour || o.edge.startCount() != 2 {
		t.Fatalf("after the push: telemetry %s, %d starts", d.Config().Telemetry.Interval, o.edge.startCount())
	}
	o.startBank(t)
	waitFor(t, 60*time.Second, "the charger and the bank back", func() bool {
		return o.cp.Connected() && d.deviceState("bank1") == health.OK && d.deviceState("CP01") == health.OK
	})
	wantStatus(t, o.send(t, "open-after", "locker_open", "bank1", map[string]any{"compartment": "A01", "reason": "parcel stuck"}), wire.CmdDone, "")
	wantStatus(t, o.send(t, "reset-after", "charger_reset", "CP01", nil), wire.CmdDone, "")
}

// TestRemoteCommandAnsweredOnceAcrossFleetRestart: the fleet goes away while
// the edge executes a command (a locker bank that does not answer keeps it
// busy for the command timeout); the edge's answer is lost with the
// connection. The restarted fleet, with its state file, resends the open
// command once the office is back; the edge answers it from its record:
// executed once, the result recorded once.
func TestRemoteCommandAnsweredOnceAcrossFleetRestart(t *testing.T) {
	fdir := t.TempDir()
	o := startSimOfficeWith(t, func(c *fleetconfig.Config) { c.DataDir = fdir })
	mqttAddr := o.f.Addrs().MQTT
	d := o.edge.running(t, 1)
	o.stopBank()
	waitFor(t, 30*time.Second, "the bank offline at the edge", func() bool { return d.deviceState("bank1") == health.Offline })
	if code, _ := fleetCommand(t, o.base, o.token, map[string]any{"id": "slow-1", "action": "locker_open", "device": "bank1",
		"params": map[string]any{"compartment": "A01", "reason": "parcel stuck"}, "ttl_s": 120}); code != 202 {
		t.Fatalf("send: %d", code)
	}
	waitFor(t, 10*time.Second, "the edge executing it", func() bool { return d.commandStarted("slow-1") })
	o.f.stop()
	o.f = startFleetWith(t, o.in, func(c *fleetconfig.Config) { c.DataDir, c.Broker.Embedded.TCP = fdir, mqttAddr })
	o.base = "http://" + o.f.Addrs().HTTP
	var rec commands.Record
	waitFor(t, 60*time.Second, "slow-1 answered after the restart", func() bool { rec = fleetRecord(t, o.base, o.token, "slow-1"); return rec.Final() })
	wantStatus(t, rec, wire.CmdDeviceOffline, "bank1 is offline")
	if rec.Sends < 2 {
		t.Fatalf("answered after %d send(s): the restart came too late to prove anything", rec.Sends)
	}
	if n := commandAudits(t, d, "locker_open", "bank1"); n != 1 {
		t.Fatalf("locker_open executed %d times at the edge, want 1", n)
	}
}
