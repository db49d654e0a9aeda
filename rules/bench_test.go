package rules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/image"
)

type benchChargers []image.Charger

func (b benchChargers) Chargers() []image.Charger { return b }

type nopLimiter struct{}

func (nopLimiter) SetChargeLimit(context.Context, string, int, float64, int) (Result, error) {
	return Result{Status: StateConfirmed}, nil
}
func (nopLimiter) SetSafeDefault(context.Context, string, float64) (Result, error) {
	return Result{Status: StateConfirmed}, nil
}

type nopSink struct{}

func (nopSink) Append(context.Context, ...sample.Sample) error { return nil }

// BenchmarkCycle: one full rules cycle (snapshot of the process image, every
// controller, 20 user rules, actuation hand-off, rules rows) for an office
// with 50 charging sessions (10 vans), 4 inverters, a meter, 30 sensors.
// CPU per cycle / 1 s cycle = share of a core (docs/benchmarks.md).
//
//	go test -run '^$' -bench Cycle -benchtime 2000x ./rules/
func BenchmarkCycle(b *testing.B) {
	now := t0
	var chs benchChargers
	for i := 0; i < 50; i++ {
		group := "public"
		if i < 10 {
			group = FleetGroup
		}
		c := session(fmt.Sprintf("CP%02d", i), 1, group, time.Duration(i)*time.Minute)
		c.CurrentA, c.PowerW = [3]float64{10, 10, 10}, 6900
		chs = append(chs, c)
	}
	img := image.New(func() time.Time { return now }, chs, nil)
	var ss []sample.Sample
	ss = append(ss, sample.Sample{Measurement: "grid", Tags: map[string]string{"device": "meter"}, Time: now,
		Fields: map[string]any{"power_w": 300000.0, "current_l1_a": 400.0, "current_l2_a": 400.0, "current_l3_a": 400.0}})
	for i := 0; i < 4; i++ {
		ss = append(ss, sample.Sample{Measurement: "pv", Tags: map[string]string{"device": fmt.Sprintf("inv%d", i)}, Time: now,
			Fields: map[string]any{"ac_power_w": 15000.0, "rated_power_w": 20000.0, "state": "mppt"}})
	}
	for i := 0; i < 30; i++ {
		ss = append(ss, sample.Sample{Measurement: "env", Tags: map[string]string{"device": fmt.Sprintf("s%02d", i)}, Time: now,
			Fields: map[string]any{"temperature_c": 21.5, "humidity_pct": 40.0, "co2_ppm": 800.0, "battery_pct": 90.0}})
	}
	img.Update(ss...)
	zero := 0.0
	cfg := Config{ContractedKW: 400, GridMeter: "meter", FuseA: 630, MaxJumpW: 1e6, PVPeakW: 80000, ExportLimitW: &zero,
		Prices: Prices{F1: 0.32, F2: 0.27, F3: 0.21}, Groups: map[string]GroupConfig{FleetGroup: {Departure: "07:30"}}}
	for i := 0; i < 20; i++ {
		cfg.Alerts = append(cfg.Alerts, AlertConfig{Name: fmt.Sprintf("r%d", i),
			When: fmt.Sprintf("env.s%02d.co2_ppm > 1200 && office.open || env.s%02d.temperature_c / 2 > 30", i, i), For: 10 * time.Minute})
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	r, err := NewRunner(cfg, Deps{Image: img, Chargers: nopLimiter{}, Sink: nopSink{}, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	r.Cycle(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		now = now.Add(time.Second)
		grid := ss[0]
		grid.Time = now
		img.Update(grid) // the meter's driver, outside the cycle's cost
		b.StartTimer()
		d := r.Cycle(ctx)
		if len(d.Setpoints) != 50 || d.Failsafe {
			b.Fatalf("%d setpoints, failsafe %v", len(d.Setpoints), d.Failsafe)
		}
	}
	b.StopTimer()
	perCycle := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(perCycle)/float64(time.Second)*100, "%core@1s")
}
