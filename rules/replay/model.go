// Package replay runs the real rules engine against a physical model of a
// post office for whole days in accelerated time, next to two baselines
// (uncontrolled charging, and an evcc-like loop), and reports the KPIs the
// energy rules are judged by (docs/energy-rules.md, "Replay").
//
// The office is a model, not the protocol simulators: PV follows a
// clear-sky bell scaled by season and clouds, the building load follows the
// opening hours with appliance steps, cars draw what the limit in force
// allows after a reaction delay, and the meter reads their sum every second.
// That keeps a 32-hour day to a second of CPU and every run repeatable.
package replay

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/polis-edge/polis/rules/tariff"
)

// Office is the simulated site.
type Office struct {
	ContractedKW float64
	PVPeakW      float64
	ClosedLoadW  float64 // night, Sundays
	OpenLoadW    float64 // office hours
	Chargers     []Charger
	// ReportEvery is how often a charger reports what its car draws (OCPP
	// MeterValues, the edge's meter_sample_interval): the meter sees a
	// car's change at once, the rules learn it at the next report.
	ReportEvery time.Duration
}

// Charger is a charge point with one connector.
type Charger struct {
	ID    string
	MaxA  float64
	Fleet bool // reserved for the vans
}

// Car is a visit: plugged at Arrive, leaves at Leave (vans: departure).
type Car struct {
	Charger string
	Tag     string
	Van     bool
	Arrive  time.Time
	Leave   time.Time
	NeedKWh float64
	CapKWh  float64 // > 0: SoC is reported
	MaxA    float64
	Phases  int
}

// Day is one reference day: a window of simulated time and what happens.
type Day struct {
	Name        string
	Start, End  time.Time
	Sun         float64 // clear-sky peak as a share of PVPeakW (season)
	Sunrise     float64 // hours, local
	Sunset      float64
	Clouds      float64 // 0 clear .. 1 overcast
	MeterOutage [2]time.Time
	Cars        []Car
	Seed        uint64
}

// world is the physical state over one run.
type world struct {
	o   Office
	day Day
	rng *rand.Rand
	// appliance steps: the office's load changes in steps (kettle, HVAC)
	stepUntil time.Time
	stepW     float64
	cloud     float64
	cloudNext time.Time
}

func newWorld(o Office, d Day) *world {
	return &world{o: o, day: d, rng: rand.New(rand.NewPCG(d.Seed, 7)), cloud: 1}
}

func open(t time.Time) bool {
	l := t.In(tariff.Rome)
	if !tariff.WorkingDay(l) {
		return false
	}
	m := l.Hour()*60 + l.Minute()
	if l.Weekday() == time.Saturday {
		return m >= 8*60+20 && m < 12*60+45
	}
	return m >= 8*60+20 && m < 13*60+45
}

// baseW is the building's load at t: opening hours plus random appliance
// steps of 1-3 kW lasting 1-15 minutes.
func (w *world) baseW(t time.Time) float64 {
	load := w.o.ClosedLoadW
	if open(t) {
		load = w.o.OpenLoadW
	}
	if t.After(w.stepUntil) {
		w.stepW = 0
		if w.rng.Float64() < 1.0/900 { // about four steps an hour
			w.stepW = 1000 + 2000*w.rng.Float64()
			w.stepUntil = t.Add(time.Duration(60+w.rng.IntN(840)) * time.Second)
		}
	}
	return load + w.stepW
}

// pvW is the production at t.
func (w *world) pvW(t time.Time) float64 {
	l := t.In(tariff.Rome)
	h := float64(l.Hour()) + float64(l.Minute())/60 + float64(l.Second())/3600
	if h <= w.day.Sunrise || h >= w.day.Sunset {
		return 0
	}
	x := (h - w.day.Sunrise) / (w.day.Sunset - w.day.Sunrise)
	clear := w.o.PVPeakW * w.day.Sun * math.Pow(math.Sin(math.Pi*x), 1.5)
	if t.After(w.cloudNext) {
		// A cloud passes every few minutes: 20-100 % of the clear sky.
		w.cloud = 1 - w.day.Clouds*(0.2+0.8*w.rng.Float64())
		w.cloudNext = t.Add(time.Duration(120+w.rng.IntN(600)) * time.Second)
	}
	return clear * w.cloud
}
