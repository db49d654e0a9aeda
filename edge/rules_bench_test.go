package edge

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/rules"
)

// BenchmarkRulesStepToConfirmed: the whole office path with real sockets. A
// SDM630 meter over Modbus TCP (float registers; polled every 1 s) sees n simulated OCPP
// charge points on loopback, each charging a car capped by the rules (1 s
// cycle). The meter jumps over the limit; the figure is the time from the
// jump to each charger's new limit confirmed on the wire
// (SetChargingProfile accepted), p50 and p99 over chargers × steps. Four
// steps, each adding 1 kW per charger to the office load from a settled
// allocation (limits confirmed, none ramping; the cars go from about 13.5 A
// to 7.7 A), each at a random moment within the poll interval: a step right
// after a poll waits for the next one, as a real one would.
//
//	go test -run '^$' -bench RulesStepToConfirmed -benchtime 1x ./edge/
func BenchmarkRulesStepToConfirmed(b *testing.B) {
	// The meter's poll interval bounds how soon a step is seen: at 1 s (the
	// template default) the step alone takes up to 1 s to show; 250 ms is
	// what an office that must never trip sets for its grid meter.
	for _, poll := range []time.Duration{time.Second, 250 * time.Millisecond} {
		for _, n := range []int{4, 50} {
			b.Run(fmt.Sprintf("poll=%s/chargers=%d", poll, n), func(b *testing.B) { benchStep(b, n, poll) })
		}
	}
}

func benchStep(b *testing.B, n int, poll time.Duration) {
	sim, err := modbussim.New(modbussim.Config{Clock: "2026-11-24T22:00:00+01:00", BaseLoadW: 1500,
		Devices: []modbussim.DeviceConfig{{Name: "sdm630", Type: modbussim.TypeSDM630}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sim.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	// Each car wants 16 A × 3 phases (11 kW); the supply allows about 12 A each.
	contracted := float64(n) * 8.5
	chargers := ""
	for i := 0; i < n; i++ {
		chargers += fmt.Sprintf("    - {id: B%02d, password: \"sixteen-chars-pw\", connectors: 1}\n", i)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
office: {id: %q}
data_dir: %q
buffer: {commit_interval: 100ms}
uplink: {enabled: false}
http: {listen: ""}
telemetry: {interval: 1h}
modbus:
  buses:
    - {id: cabinet, url: "tcp://%s", timeout: 1s}
  devices:
    - {id: grid, bus: cabinet, unit: 1, kind: meter, poll: %s, template: sdm630, max_power_w: 2000000}
ocpp:
  listen: 127.0.0.1:0
  security_profile: 1
  meter_sample_interval: 2s
  chargers:
%s  auth: {unknown_tags: accept_public}
rules: {contracted_kw: %v, grid_meter: grid, max_jump_w: 1000000}
`, testOffice, b.TempDir(), sim.Addr("sdm630"), poll, chargers, contracted)))
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(cfg, quietLog(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-d.ready
	var cps []*ocppsim.ChargePoint
	for i := 0; i < n; i++ {
		cp, err := ocppsim.New(ocppsim.Config{URL: "ws://" + d.OCPP().Addr().String() + "/ocpp", ID: fmt.Sprintf("B%02d", i),
			Password: "sixteen-chars-pw", MeterInterval: 2 * time.Second, ProfileDelay: 500 * time.Millisecond}, quietLog())
		if err != nil {
			b.Fatal(err)
		}
		cps = append(cps, cp)
		go cp.Run(ctx)
	}
	var stepW atomic.Int64
	total := ocppsim.TotalPower(cps...)
	sim.SetChargerPower(func() float64 { return total() + float64(stepW.Load()) })
	waitFor(b, 60*time.Second, "all chargers online", func() bool {
		for _, cp := range cps {
			if !cp.Connected() {
				return false
			}
		}
		return true
	})
	for i, cp := range cps {
		// One card per car: a card already charging elsewhere is ConcurrentTx.
		if err := cp.Plug(1, ocppsim.Car{IdTag: fmt.Sprintf("CAFE%02d", i), BatteryWh: 1e6, SoCPct: 10, MaxCurrentA: 16, Phases: 3}); err != nil {
			b.Fatal(err)
		}
	}
	settled := func() map[string]float64 {
		al := d.Rules().Allocation()
		if len(al.Setpoints) != n {
			return nil
		}
		out := map[string]float64{}
		for _, sp := range al.Setpoints {
			t := al.Actuation[sp.ChargerID]["1"]
			if t.State != rules.StateConfirmed || math.Abs(t.Sent-sp.Amps) > 0.05 || sp.Amps < 6 || sp.Reason != rules.ReasonHeadroom {
				return nil
			}
			out[sp.ChargerID] = sp.Amps
		}
		return out
	}
	var lat []time.Duration
	b.ResetTimer()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(poll)))
	for step := 1; step <= 4; step++ {
		var before map[string]float64
		waitFor(b, 120*time.Second, "limits settled", func() bool { before = settled(); return before != nil })
		time.Sleep(time.Duration(rng.Int64N(int64(poll))))
		t0 := time.Now()
		stepW.Store(int64(n) * 1000 * int64(step)) // 1 kW more per charger each step: every car gives ~1.5 A back
		got := map[string]time.Duration{}
		waitFor(b, 30*time.Second, "every charger confirmed a lower limit", func() bool {
			al := d.Rules().Allocation()
			for id, a := range al.Actuation {
				t := a["1"]
				if _, ok := got[id]; !ok && t.State == rules.StateConfirmed && t.Sent < before[id] && t.At.After(t0) {
					got[id] = t.At.Sub(t0)
				}
			}
			return len(got) == n
		})
		for _, l := range got {
			lat = append(lat, l)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	b.ReportMetric(float64(p(0.5).Milliseconds()), "p50_ms")
	b.ReportMetric(float64(p(0.99).Milliseconds()), "p99_ms")
	b.ReportMetric(float64(p(1).Milliseconds()), "max_ms")
}
