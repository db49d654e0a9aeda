package rules

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/rules/image"
)

const s = time.Second

// 15 kW contracted: available = 16 500 − 200 margin = 16 300 W. Three-phase
// 6 A minimum = 4 140 W.
func twoCars() office {
	return office{
		cfg:      Config{ContractedKW: 15, GridMeter: "meter"},
		chargers: []image.Charger{session("CP01", 1, "public", 0), session("CP02", 1, "public", time.Minute)},
	}
}

func TestGuardSharesAllAtOnceRampsUpAndCutsAtOnce(t *testing.T) {
	run(t, twoCars(), []cycle{
		// 14 kW headroom: both start together (never one per tick), at
		// the minimum plus one ramp step.
		{at: 0, baseW: 2300, want: map[string]float64{"CP01/1": 8, "CP02/1": 8}, why: map[string]string{"CP01/1": ReasonRamp}},
		{at: 1 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 8, "CP02/1": 8}, want: map[string]float64{"CP01/1": 10, "CP02/1": 10}},
		// Equal shares of 14 000 W: 10.14 A each.
		{at: 2 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 10, "CP02/1": 10},
			want: map[string]float64{"CP01/1": 10.1, "CP02/1": 10.1}, why: map[string]string{"CP01/1": ReasonHeadroom, "CP02/1": ReasonHeadroom}},
		// The office load jumps: both drop in the same cycle, no ramp down.
		{at: 3 * s, baseW: 8000, draw: map[string]float64{"CP01/1": 10.1, "CP02/1": 10.1},
			want: map[string]float64{"CP01/1": 6, "CP02/1": 6}},
		// Even two minimums no longer fit: the newer session pauses, the
		// older one gets the whole 7 300 W (ramping from 6 A).
		{at: 4 * s, baseW: 9000, draw: map[string]float64{"CP01/1": 6, "CP02/1": 6},
			want: map[string]float64{"CP01/1": 8, "CP02/1": 0}, why: map[string]string{"CP02/1": ReasonPaused}},
		{at: 5 * s, baseW: 9000, draw: map[string]float64{"CP01/1": 8},
			want: map[string]float64{"CP01/1": 10, "CP02/1": 0}, why: map[string]string{"CP02/1": ReasonMinOff}},
		// Load back down, but CP02 was paused 26 s ago: it waits min_off.
		{at: 30 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 10},
			want: map[string]float64{"CP01/1": 20.2, "CP02/1": 0}, why: map[string]string{"CP02/1": ReasonMinOff}},
		// After min_off both share again; CP01 comes down at once.
		{at: 65 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 20.2},
			want: map[string]float64{"CP01/1": 10.1, "CP02/1": 10.1}},
	})
}

func TestGuardRestartNeedsHysteresis(t *testing.T) {
	o := twoCars()
	o.chargers = o.chargers[:1]
	run(t, o, []cycle{
		// 4 400 W of headroom covers the 4 140 W minimum but not the
		// 500 W start hysteresis: it does not start.
		{at: 0, baseW: 11900, want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonHysteresis}},
		{at: 1 * s, baseW: 11850, want: map[string]float64{"CP01/1": 0}},
		{at: 2 * s, baseW: 11500, want: map[string]float64{"CP01/1": 6.9}},
		// Once running it stays at the minimum with less margin.
		{at: 3 * s, baseW: 12100, draw: map[string]float64{"CP01/1": 6.9}, want: map[string]float64{"CP01/1": 6}},
	})
}

func TestGuardOnePhaseAndThreePhase(t *testing.T) {
	// 3 kW contracted: 3 100 W available. 2 100 W headroom fits a
	// single-phase car (6 A = 1 380 W) but never a three-phase one.
	o := office{
		cfg:      Config{ContractedKW: 3, GridMeter: "meter", RampAPerS: 100, Chargers: []ChargerConfig{{ID: "CP01", Phases: 1}}},
		chargers: []image.Charger{session("CP01", 1, "public", 0), session("CP02", 1, "public", 0)},
		phases:   map[string]int{"CP01/1": 1},
	}
	run(t, o, []cycle{
		{at: 0, baseW: 1000, want: map[string]float64{"CP01/1": 9.1, "CP02/1": 0}, why: map[string]string{"CP02/1": ReasonHysteresis}},
	})
}

func TestGuardSinglePhaseCarOnThreePhaseCharger(t *testing.T) {
	// 6 kW: 6 400 W available, 500 W of office load. The car draws on L2
	// only: the guard budgets it as 230 W/A, so it can go to 25.6 A where
	// a three-phase estimate stops at 8.5 A.
	o := office{
		cfg:      Config{ContractedKW: 6, GridMeter: "meter", RampAPerS: 100},
		chargers: []image.Charger{session("CP01", 1, "public", 0)},
	}
	run(t, o, []cycle{
		{at: 0, baseW: 500, want: map[string]float64{"CP01/1": 8.5}},
		{at: 1 * s, baseW: 500, draw: map[string]float64{"CP01/1": 0}, want: map[string]float64{"CP01/1": 8.5}},
	})
	// Now make the draw single-phase.
	o.chargers[0].CurrentA = [3]float64{}
	e := NewEngine(withDefaults(o.cfg))
	snap := func(now time.Time, a float64) image.Snapshot {
		ch := o.chargers[0]
		ch.CurrentA = [3]float64{0, a, 0}
		ch.PowerW = a * 230
		return image.Snapshot{Chargers: []image.Charger{ch}, Values: map[string]map[string]map[string]image.Value{
			"grid": {"meter": {"power_w": {V: 500 + a*230, At: now}}}}}
	}
	e.Step(snap(t0, 8), t0, Inputs{})
	d := e.Step(snap(t0.Add(s), 8), t0.Add(s), Inputs{})
	if sp := d.Setpoints[0]; sp.Phases != 1 || sp.Amps < 25.55 || sp.Amps > 25.65 {
		t.Fatalf("single-phase car: got %+v, want 1 phase at 25.6 A", sp)
	}
}

func withDefaults(c Config) Config { c.ApplyDefaults(); return c }

func TestGuardPerPhaseFuse(t *testing.T) {
	// 25 A fuses; L1 already carries 15 A of office load. A three-phase
	// car may take only 10 A; a single-phase charger on L1 does not even
	// get its minimum, one on L2 shares L2 with the three-phase car.
	onL1 := office{
		cfg: Config{ContractedKW: 15, GridMeter: "meter", FuseA: 25, RampAPerS: 100,
			Chargers: []ChargerConfig{{ID: "CP02", Phases: 1, SinglePhaseL: 1}}},
		chargers: []image.Charger{session("CP01", 1, "public", 0), session("CP02", 1, "public", time.Minute)},
		phases:   map[string]int{"CP02/1": 1},
	}
	run(t, onL1, []cycle{{at: 0, baseW: 5750, phaseA: &[3]float64{15, 5, 5},
		want: map[string]float64{"CP01/1": 10, "CP02/1": 0}, why: map[string]string{"CP01/1": ReasonFuse}}})

	onL2 := onL1
	onL2.cfg.Chargers = []ChargerConfig{{ID: "CP02", Phases: 1, SinglePhaseL: 2}}
	run(t, onL2, []cycle{{at: 0, baseW: 5750, phaseA: &[3]float64{15, 15, 5},
		want: map[string]float64{"CP01/1": 5 + 5, "CP02/1": 0}}})
	run(t, onL2, []cycle{{at: 0, baseW: 5750, phaseA: &[3]float64{15, 5, 5},
		want: map[string]float64{"CP01/1": 10, "CP02/1": 10}, why: map[string]string{"CP01/1": ReasonFuse, "CP02/1": ReasonFuse}}})
}

func TestGuardStaleMeterFailsafe(t *testing.T) {
	o := twoCars()
	o.cfg.RampAPerS = 100
	run(t, o, []cycle{
		{at: 0, baseW: 2300, want: map[string]float64{"CP01/1": 10.1, "CP02/1": 10.1}},
		{at: 5 * s, meterAt: ptr(time.Duration(0)), baseW: 2300, draw: map[string]float64{"CP01/1": 10.1, "CP02/1": 10.1},
			want: map[string]float64{"CP01/1": 10.1}},
		// 11 s without a reading: every charger to the 6 A safe limit.
		{at: 11 * s, meterAt: ptr(time.Duration(0)), want: map[string]float64{"CP01/1": 6, "CP02/1": 6},
			why: map[string]string{"CP01/1": ReasonFailsafe}, events: []string{"failsafe_entered"},
			check: func(t *testing.T, d Decision) {
				if !d.Failsafe || d.MeterOK {
					t.Errorf("decision not in fail-safe: %+v", d)
				}
			}},
		{at: 12 * s, meterAt: ptr(time.Duration(0)), want: map[string]float64{"CP01/1": 6, "CP02/1": 6}},
		{at: 13 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 6, "CP02/1": 6},
			want: map[string]float64{"CP01/1": 10.1, "CP02/1": 10.1}, events: []string{"failsafe_left"}},
	})
}

func TestGuardNonsenseMeterIsStale(t *testing.T) {
	o := twoCars()
	o.cfg.RampAPerS, o.cfg.PVPeakW = 100, 6000
	o.chargers = o.chargers[:1]
	run(t, o, []cycle{
		{at: 0, baseW: 2300, want: map[string]float64{"CP01/1": 20.2}},
		// A 1 MW jump is a garbled register: ignored, counted.
		{at: 1 * s, gridW: ptr(1e6), draw: map[string]float64{"CP01/1": 20.2}, want: map[string]float64{"CP01/1": 20.2},
			check: func(t *testing.T, d Decision) {
				if d.Errors != 1 {
					t.Errorf("errors %d, want 1", d.Errors)
				}
			}},
		// 20 kW of export with 6 kW of PV: impossible, ignored too.
		{at: 5 * s, gridW: ptr(-20000.0), want: map[string]float64{"CP01/1": 20.2}},
		// Still nothing sensible 11 s after the last good read: fail-safe.
		{at: 11 * s, gridW: ptr(1e6), want: map[string]float64{"CP01/1": 6}, events: []string{"failsafe_entered"}},
	})
}

func TestGuardMinOnAndOverridesNeverExceedTheCap(t *testing.T) {
	o := twoCars()
	o.cfg.RampAPerS = 100
	o.chargers = o.chargers[:1]
	pv := Inputs{Modes: map[string]string{"CP01": ModePV}}
	stop := Inputs{Overrides: map[string]Override{"CP01/1": {Amps: 0, Until: t0.Add(time.Hour)}}}
	more := Inputs{Overrides: map[string]Override{"CP01/1": {Amps: 32, Until: t0.Add(time.Hour)}}}
	run(t, o, []cycle{
		{at: 0, baseW: 2300, want: map[string]float64{"CP01/1": 20.2}},
		// Switched to pv with no surplus 10 s after starting: kept at the
		// minimum until min_on (2 min) has passed, then paused.
		{at: 10 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 20.2}, in: pv,
			want: map[string]float64{"CP01/1": 6}, why: map[string]string{"CP01/1": ReasonMinOn}},
		{at: 121 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 6}, in: pv,
			want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonPVSurplus}},
		// An override asking for 32 A still gets only what the supply allows.
		{at: 200 * s, baseW: 12000, in: more, want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonHysteresis}},
		{at: 201 * s, baseW: 9000, in: more, want: map[string]float64{"CP01/1": 10.5}, why: map[string]string{"CP01/1": ReasonHeadroom}},
		// An operator's explicit stop applies at once, min_on or not.
		{at: 205 * s, baseW: 9000, draw: map[string]float64{"CP01/1": 10.5}, in: stop,
			want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonOverride}},
	})
}

func TestFailsafeKeepsSafeLimitsUnderTheRecentPeak(t *testing.T) {
	// The office drew 9 kW a minute before the meter went blind: 7 300 W
	// remain, one 6 A three-phase session (4 140 W) fits, the second pauses.
	o := twoCars()
	o.cfg.RampAPerS = 100
	run(t, o, []cycle{
		{at: 0, baseW: 9000, want: map[string]float64{"CP01/1": 10.5, "CP02/1": 0}},
		{at: 60 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 10.5}, want: map[string]float64{"CP01/1": 10.1, "CP02/1": 10.1}},
		{at: 71 * s, meterAt: ptr(60 * s), events: []string{"failsafe_entered"},
			want: map[string]float64{"CP01/1": 6, "CP02/1": 0}, why: map[string]string{"CP02/1": ReasonFailsafe}},
	})
}

// Just after a raise the meter sees the car take more while the charger's
// report still shows the old draw: the office load looks higher by the raise.
// The session is held at its minimum (a decrease all the same) instead of
// being stopped for min_off; a shortfall that outlasts pause_after, or one
// that comes long after the last raise, pauses it at once.
func TestGuardHoldsAJustRaisedSessionAtItsMinimumThroughReportLag(t *testing.T) {
	o := twoCars()
	o.chargers = o.chargers[:1]
	lagged := 11000.0 + 10*690 // base plus the car at its new 10 A, reported as 0 A
	settled := 11000.0 + 6*690
	genuine := 13000.0 + 6*690
	run(t, o, []cycle{
		{at: 0, baseW: 2300, want: map[string]float64{"CP01/1": 8}},
		{at: 1 * s, baseW: 2300, draw: map[string]float64{"CP01/1": 8}, want: map[string]float64{"CP01/1": 10}},
		{at: 1500 * time.Millisecond, gridW: &lagged, draw: map[string]float64{"CP01/1": 0},
			want: map[string]float64{"CP01/1": 6}, why: map[string]string{"CP01/1": ReasonShort}},
		// The report catches up: no shortfall, it ramps again (a raise).
		{at: 4 * s, gridW: &settled, draw: map[string]float64{"CP01/1": 6}, want: map[string]float64{"CP01/1": 7.6}},
		// A real load step 3 s after that raise: paused at once.
		{at: 7 * s, gridW: &genuine, draw: map[string]float64{"CP01/1": 6},
			want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonPaused}},
	})
}
