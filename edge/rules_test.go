package edge

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/rules"
)

// rulesOffice is a simulated office at night (no PV, 1.5 kW of building
// load) with a 6 kW supply: 6 400 W available. Its meter (SunSpec over
// Modbus TCP) sees the charger's real draw.
func rulesOffice(t *testing.T, extra string) (*Daemon, *modbussim.Sim, *ocppsim.ChargePoint) {
	t.Helper()
	simCfg := modbussim.Config{Clock: "2026-11-24T22:00:00+01:00", BaseLoadW: 1500,
		Devices: []modbussim.DeviceConfig{{Name: "meter1", Type: modbussim.TypeMeter}}}
	sim, err := modbussim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
office: {id: %q}
data_dir: %q
buffer: {commit_interval: 20ms}
uplink: {enabled: false}
http: {listen: "127.0.0.1:0"}
telemetry: {interval: 1h}
modbus:
  buses:
    - {id: cabinet, url: "tcp://%s", timeout: 1s}
  devices:
    - {id: grid, bus: cabinet, unit: 1, kind: meter, poll: 300ms, sunspec: true, max_power_w: 60000}
ocpp:
  listen: 127.0.0.1:0
  security_profile: 1
  meter_sample_interval: 1s
  chargers:
    - {id: CP01, password: "sixteen-chars-pw", connectors: 1}
    - {id: CP02, password: "sixteen-chars-pw", connectors: 1}
  auth:
    unknown_tags: accept_public
    tags:
      - {id: "04A1B2C3", group: fleet, departure: "07:30"}
rules:
  contracted_kw: 6
  grid_meter: grid
  cycle: 200ms
  meter_stale_after: 3s
  ramp_a_per_s: 20
%s`, testOffice, dataDir(t), sim.Addr("meter1"), extra)))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startEdge(t, cfg)
	cp, err := ocppsim.New(ocppsim.Config{
		URL: "ws://" + d.OCPP().Addr().String() + "/ocpp", ID: "CP01", Password: "sixteen-chars-pw",
		MeterInterval: time.Second, ProfileDelay: 100 * time.Millisecond, Tick: 100 * time.Millisecond,
	}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	sim.SetChargerPower(ocppsim.TotalPower(cp))
	go cp.Run(t.Context())
	waitFor(t, 30*time.Second, "the charger to connect", cp.Connected)
	return d, sim, cp
}

// TestRulesKeepImportUnderAvailablePower: a 22 kW car on a 6 kW supply.
// The rules read the real meter, cap the car to what the supply allows with
// a limit the charger confirms, install the safe default profile, and fall
// back to the safe limit when the meter goes silent.
func TestRulesKeepImportUnderAvailablePower(t *testing.T) {
	d, sim, cp := rulesOffice(t, "")
	if err := cp.Plug(1, ocppsim.Car{IdTag: "CAFE01", BatteryWh: 60000, SoCPct: 30, MaxCurrentA: 32, Phases: 3}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if !t.Failed() {
			return
		}
		b, _ := json.Marshal(d.Rules().Allocation())
		t.Logf("alloc %s\nconn %+v power %v", b, cp.Connector(1), cp.PowerW())
	}()
	// (6 400 − 1 500) / 690 = 7.1 A per phase.
	waitFor(t, 30*time.Second, "the car capped under the available power", func() bool {
		v := cp.Connector(1)
		return v.Status == "Charging" && v.LimitUnit == "A" && v.LimitValue >= 6 && v.LimitValue <= 7.5 && cp.PowerW() > 3000
	})
	waitFor(t, 10*time.Second, "the meter to read under the available power", func() bool {
		w, _, ok := d.image.Snapshot().Float("grid", "grid", "power_w")
		return ok && w > 3000 && w < 6400
	})
	// A loaded machine can make the meter stale for a moment (fail-safe) and
	// the next limit is then pending for a round trip: wait for confirmed.
	waitFor(t, 10*time.Second, "the connector limit confirmed", func() bool {
		return d.Rules().Allocation().Actuation["CP01"]["1"].State == rules.StateConfirmed
	})
	al := d.Rules().Allocation()
	if st := al.Actuation["CP01"]["0"]; st.State != rules.StateConfirmed || st.Want != 6 {
		t.Errorf("safe default profile %+v, want 6 A confirmed", st)
	}

	// The allocation and the image on the local API.
	var got rules.Allocation
	getJSON(t, "http://"+d.HTTPAddr()+"/api/v1/rules", &got)
	if len(got.Setpoints) != 1 || got.Setpoints[0].Key != "CP01/1" || got.Setpoints[0].Amps > 7.5 {
		t.Errorf("GET /api/v1/rules setpoints = %+v", got.Setpoints)
	}
	var img struct {
		Values map[string]map[string]map[string]struct{ V any } `json:"values"`
	}
	getJSON(t, "http://"+d.HTTPAddr()+"/api/v1/image", &img)
	if _, ok := img.Values["grid"]["grid"]["power_w"]; !ok {
		t.Errorf("GET /api/v1/image has no grid power: %v", img.Values)
	}

	// The meter stops answering: within meter_stale_after the car is at
	// the 6 A safe limit.
	if err := sim.SetFaults("meter1", modbussim.Faults{Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "fail-safe at 6 A", func() bool {
		v := cp.Connector(1)
		return d.Rules().Allocation().Failsafe && v.LimitValue == 6
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestRulesChargerRejectingProfilesGetsNoRetryStorm: a charger that rejects
// every profile is reported (reason "rejected"), its draw counts as office
// load so the other charger is paused instead, and it is not asked again
// every cycle.
func TestRulesChargerRejectingProfilesGetsNoRetryStorm(t *testing.T) {
	d, sim, good := rulesOffice(t, "")
	bad, err := ocppsim.New(ocppsim.Config{
		URL: "ws://" + d.OCPP().Addr().String() + "/ocpp", ID: "CP02", Password: "sixteen-chars-pw",
		MeterInterval: time.Second, ProfileDelay: 100 * time.Millisecond, Tick: 100 * time.Millisecond,
		Misbehave: ocppsim.Misbehave{RejectProfiles: true},
	}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	// The grid meter sees both chargers: what CP02 draws uncontrolled is
	// office load the rules must make room for.
	sim.SetChargerPower(ocppsim.TotalPower(good, bad))
	go bad.Run(t.Context())
	waitFor(t, 30*time.Second, "CP02 to connect", bad.Connected)
	car := ocppsim.Car{IdTag: "CAFE01", BatteryWh: 60000, SoCPct: 30, MaxCurrentA: 16, Phases: 3}
	if err := bad.Plug(1, car); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "CP02 reported as rejecting", func() bool {
		for _, sp := range d.Rules().Allocation().Setpoints {
			if sp.Key == "CP02/1" && sp.Reason == rules.ReasonRejected {
				return true
			}
		}
		return false
	})
	defer func() {
		if t.Failed() {
			b, _ := json.Marshal(d.Rules().Allocation())
			t.Logf("alloc %s\nCP01 %+v", b, good.Connector(1))
		}
	}()
	// CP02 draws 11 kW uncontrolled: CP01's car does not even get 6 A.
	// (Another car: one card in two sessions at once is ConcurrentTx.)
	car.IdTag = "CAFE02"
	if err := good.Plug(1, car); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "CP01 paused", func() bool {
		for _, sp := range d.Rules().Allocation().Setpoints {
			if sp.Key == "CP01/1" && sp.Amps == 0 {
				return good.Connector(1).LimitValue == 0 && good.Connector(1).LimitUnit == "A"
			}
		}
		return false
	})
	c0 := d.Rules().Allocation().Cycles
	waitFor(t, 30*time.Second, "20 more cycles", func() bool { return d.Rules().Allocation().Cycles > c0+20 })
	var counters map[string]uint64
	for _, dev := range d.OCPP().Devices() {
		if dev.ID == "CP02" {
			counters = dev.Counters
		}
	}
	// One rejected default profile and one rejected connector limit at most
	// per value; never re-asked every cycle.
	if n := counters["limit_rejected"] + counters["limit_rejected_cached"]; n > 4 {
		t.Fatalf("CP02 was asked %d times for rejected profiles (counters %v)", n, counters)
	}
}

// TestRulesReloadOnSIGHUP: a changed rules section applies at the next cycle
// without a restart and is not reported as restart-pending; a bad one is
// refused at parse time, naming the key.
func TestRulesReloadOnSIGHUP(t *testing.T) {
	base := fmt.Sprintf(`
office: {id: %q}
data_dir: %q
uplink: {enabled: false}
http: {listen: "127.0.0.1:0"}
rules: {contracted_kw: %%v, cycle: 100ms}
`, testOffice, dataDir(t))
	parse := func(kw string) (config.Config, error) { return config.Parse([]byte(fmt.Sprintf(base, kw))) }
	cfg, err := parse("6")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startEdge(t, cfg)
	waitFor(t, 10*time.Second, "a cycle at 6 kW", func() bool { return math.Abs(d.Rules().Allocation().AvailableW-6400) < 1 })
	next, err := parse("10")
	if err != nil {
		t.Fatal(err)
	}
	var level slog.LevelVar
	if pending := d.Reload(next, &level); len(pending) != 0 {
		t.Fatalf("rules change reported as needing a restart: %v", pending)
	}
	waitFor(t, 10*time.Second, "a cycle at 10 kW", func() bool { return math.Abs(d.Rules().Allocation().AvailableW-10800) < 1 })
	bad := strings.Replace(fmt.Sprintf(base, "6"), "cycle: 100ms}", "cycle: 100ms, alerts: [{name: co2, when: \"env.sala.co2_ppm >\"}]}", 1)
	if _, err := config.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "rules.alerts[0].when") {
		t.Fatalf("bad rule: %v, want an error naming rules.alerts[0].when", err)
	}
}

// TestRulesOperatorRoutes: setting a charger's mode and a temporary override
// needs an operator token, is validated, takes effect in the allocation and
// is audited.
func TestRulesOperatorRoutes(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
office: {id: %q}
data_dir: %q
uplink: {enabled: false}
http:
  listen: "127.0.0.1:0"
  operators:
    - {name: installer, token: "installer-token-0123456789", role: operator}
    - {name: guest, token: "guest-token-0123456789", role: viewer}
rules: {contracted_kw: 6, cycle: 100ms}
`, testOffice, dataDir(t))))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startEdge(t, cfg)
	base := "http://" + d.HTTPAddr()
	put := func(path, token, body string) int {
		req, _ := http.NewRequest("PUT", base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, token, body string
		want              int
	}{
		{"/api/v1/rules/chargers/CP01/mode", "", `{"mode":"pv"}`, 401},
		{"/api/v1/rules/chargers/CP01/mode", "guest-token-0123456789", `{"mode":"pv"}`, 403},
		{"/api/v1/rules/chargers/CP01/mode", "installer-token-0123456789", `{"mode":"turbo"}`, 400},
		{"/api/v1/rules/chargers/CP01/mode", "installer-token-0123456789", `{"mode":"pv"}`, 200},
		{"/api/v1/rules/chargers/CP01/connectors/1/override", "installer-token-0123456789", `{"amps":10,"duration":"forever"}`, 400},
		{"/api/v1/rules/chargers/CP01/connectors/1/override", "installer-token-0123456789", `{"amps":10,"duration":"2h"}`, 200},
	} {
		if got := put(c.path, c.token, c.body); got != c.want {
			t.Errorf("PUT %s %s as %q: %d, want %d", c.path, c.body, c.token, got, c.want)
		}
	}
	al := d.Rules().Allocation()
	if al.Modes["CP01"] != "pv" || al.Overrides["CP01/1"].Amps != 10 || al.Overrides["CP01/1"].By != "installer" {
		t.Fatalf("allocation modes %v overrides %v", al.Modes, al.Overrides)
	}
	var page struct {
		Entries []AuditEntry `json:"entries"`
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/audit", nil)
	req.Header.Set("Authorization", "Bearer guest-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	actions := map[string]int{}
	for _, e := range page.Entries {
		actions[e.Action+"/"+e.Result]++
	}
	if actions["rules_set_mode/done"] != 1 || actions["rules_set_mode/refused"] != 1 || actions["rules_override/done"] != 1 {
		t.Fatalf("audit trail %v", actions)
	}
}
