package rules

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/rules/image"
)

// A charger reports its draw every 10 s, the meter every second. After a
// raise the report is stale-low: the meter's rise is the car following its
// new limit, not the office's load, and must not cut the car again.
func TestRaisedCarIsNotCutByItsStaleReport(t *testing.T) {
	o := office{
		cfg:      Config{ContractedKW: 10, GridMeter: "meter", RampAPerS: 100, Chargers: []ChargerConfig{{ID: "CP01", MaxA: 16}}},
		chargers: []image.Charger{session("CP01", 1, "public", -h)},
	}
	at0 := time.Duration(0)
	full := 11.3 // (10 800 − 3 000) / 690
	run(t, o, []cycle{
		// Reported and drawn 6 A, confirmed 6 A: raised to what fits.
		{at: 0, baseW: 3000, draw: map[string]float64{"CP01/1": 6}, in: confirmed("CP01/1", 6),
			want: map[string]float64{"CP01/1": full}},
		// 5 s on: the car draws its new 11.3 A, the meter sees it, the
		// charger's last report (t=0) still says 6 A.
		{at: 5 * s, baseW: 3000, draw: map[string]float64{"CP01/1": full}, report: map[string]float64{"CP01/1": 6}, repAt: &at0,
			in: confirmed("CP01/1", full), want: map[string]float64{"CP01/1": full}},
		// A real rise of the office's load is still seen at once.
		{at: 6 * s, baseW: 4500, draw: map[string]float64{"CP01/1": full}, report: map[string]float64{"CP01/1": 6}, repAt: &at0,
			in: confirmed("CP01/1", full), want: map[string]float64{"CP01/1": 9.1}},
	})
}

// After a cut the report is stale-high: the car cannot draw over a limit
// the charger confirmed, so what it no longer draws is not counted as the
// office's load going down.
func TestCutCarCountsAtItsConfirmedLimit(t *testing.T) {
	o := office{
		cfg:      Config{ContractedKW: 10, GridMeter: "meter", RampAPerS: 100, Chargers: []ChargerConfig{{ID: "CP01", MaxA: 16}}},
		chargers: []image.Charger{session("CP01", 1, "public", -h)},
	}
	at0 := time.Duration(0)
	run(t, o, []cycle{
		{at: 0, baseW: 4500, draw: map[string]float64{"CP01/1": 9.1}, in: confirmed("CP01/1", 9.1),
			want: map[string]float64{"CP01/1": 9.1}},
		// The office's load falls 1.5 kW while the report still says 16 A
		// from before a cut: the car draws 9.1, the budget is 11.3.
		{at: 5 * s, baseW: 3000, draw: map[string]float64{"CP01/1": 9.1}, report: map[string]float64{"CP01/1": 16}, repAt: &at0,
			in: confirmed("CP01/1", 9.1), want: map[string]float64{"CP01/1": 11.3}},
	})
}

func confirmed(key string, a float64) Inputs {
	return Inputs{Confirmed: map[string]float64{key: a}}
}

// A car that takes less than its limit (8 A of 11: a cold battery, a
// small on-board charger) is capped by itself: after a raise it is not
// counted at its new limit, which would hide 2 kW of the office's load and
// give the other car more than the supply has.
func TestCarUnderItsLimitIsCountedAtWhatItTakes(t *testing.T) {
	o := office{
		cfg: Config{ContractedKW: 15, GridMeter: "meter", RampAPerS: 100,
			Chargers: []ChargerConfig{{ID: "CP01", MaxA: 16}, {ID: "CP02", MaxA: 16}}},
		chargers: []image.Charger{session("CP01", 1, "public", -2*h), session("CP02", 1, "public", -h)},
	}
	at0 := time.Duration(0)
	both := func(a, b float64) Inputs {
		return Inputs{Confirmed: map[string]float64{"CP01/1": a, "CP02/1": b}}
	}
	run(t, o, []cycle{
		{at: 0, baseW: 1000, draw: map[string]float64{"CP01/1": 8, "CP02/1": 11.0}, in: both(11.0, 11.0),
			want: map[string]float64{"CP01/1": 11.0, "CP02/1": 11.0}},
		// Raised to 11.4 each; CP01's car still takes 8 A; the reports are
		// from t=0.
		{at: 6 * s, baseW: 500, draw: map[string]float64{"CP01/1": 8, "CP02/1": 11.4},
			report: map[string]float64{"CP01/1": 8, "CP02/1": 11.0}, repAt: &at0, in: both(11.4, 11.4),
			want: map[string]float64{"CP01/1": 11.6, "CP02/1": 11.6}}, // counting CP01 at 11.4 A: 13.1 each
	})
}

// A car paused by its charger (our limit was 0: SuspendedEVSE) draws again
// once raised, before the charger reports either its status or its draw.
func TestResumedCarIsNotPausedByItsStaleReport(t *testing.T) {
	o := office{
		cfg:      Config{ContractedKW: 10, GridMeter: "meter", RampAPerS: 100, Chargers: []ChargerConfig{{ID: "CP01", MaxA: 16}}},
		chargers: []image.Charger{session("CP01", 1, "public", -h)},
	}
	o.chargers[0].Status = "SuspendedEVSE"
	at0 := time.Duration(0)
	run(t, o, []cycle{
		{at: 0, baseW: 3000, in: confirmed("CP01/1", 0), want: map[string]float64{"CP01/1": 11.3}},
		{at: 5 * s, baseW: 3000, draw: map[string]float64{"CP01/1": 11.3}, report: map[string]float64{"CP01/1": 0}, repAt: &at0,
			in: confirmed("CP01/1", 11.3), want: map[string]float64{"CP01/1": 11.3}},
	})
}
