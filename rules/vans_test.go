package rules

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/rules/image"
)

const h = time.Hour

// A van plugged in at 10:00 on a Tuesday (F1), leaving 07:30 Wednesday,
// 20 kWh to go, on a 6 kW supply with 1 kW of office load.
func vanOffice() office {
	return office{
		cfg: Config{ContractedKW: 6, GridMeter: "meter", RampAPerS: 100,
			Prices:   Prices{F1: 0.30, F2: 0.25, F3: 0.18},
			Chargers: []ChargerConfig{{ID: "CP01", MaxA: 16}, {ID: "CP02"}},
			Vans:     map[string]VanConfig{"fleet-CP01": {Departure: "07:30", EnergyKWh: 20}}},
		chargers: []image.Charger{session("CP01", 1, FleetGroup, 0)},
	}
}

func TestVanWaitsForPVAndCheapBandButIsReady(t *testing.T) {
	run(t, vanOffice(), []cycle{
		// F1 and no sun: 21.5 h left, the night's F3 is enough. Wait.
		{at: 0, baseW: 1000, want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonVanPlan}},
		// Sun: once the 5 kW surplus has lasted pv_start_delay, it goes
		// into the van (7.2 A).
		{at: 1 * h, baseW: 1000, pvW: 6000, want: map[string]float64{"CP01/1": 0}},
		{at: 1*h + 61*s, baseW: 1000, pvW: 6000, want: map[string]float64{"CP01/1": 7.2}, why: map[string]string{"CP01/1": ReasonVanPlan}},
		// 23:00, F3: charge at what the supply allows (5 400 W = 7.8 A).
		{at: 13 * h, baseW: 1000, want: map[string]float64{"CP01/1": 7.8}},
	})
}

func TestVanShortfallWarnedEarly(t *testing.T) {
	o := vanOffice()
	o.chargers = []image.Charger{session("CP01", 1, FleetGroup, 20*h)}
	run(t, o, []cycle{
		// Plugged at 06:00 for a 07:30 departure: 1.5 h × 4.3 kW is far
		// from 20 kWh. Say so now, and charge at once.
		{at: 20 * h, baseW: 1000, want: map[string]float64{"CP01/1": 7.8}, events: []string{"van_shortfall_forecast"},
			check: func(t *testing.T, d Decision) {
				if v := d.Events[0].Fields["shortfall_kwh"].(float64); v < 13 || v > 14 {
					t.Errorf("shortfall %.1f kWh, want about 13.5", v)
				}
			}},
		// Warned once per session, not every cycle.
		{at: 20*h + 1*s, baseW: 1000, draw: map[string]float64{"CP01/1": 7.8}, want: map[string]float64{"CP01/1": 7.8}},
	})
}

func TestVanGoesBeforePublicCar(t *testing.T) {
	o := vanOffice()
	o.chargers = []image.Charger{session("CP02", 1, "public", -h), session("CP01", 1, FleetGroup, 13*h)}
	run(t, o, []cycle{
		// 23:00, F3, the van must charge; only one minimum fits: the van
		// goes first although the public car came earlier.
		{at: 13 * h, baseW: 1000, want: map[string]float64{"CP01/1": 7.8, "CP02/1": 0}},
	})
}

func TestDepartureSkipsSundaysAndHolidays(t *testing.T) {
	sat := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC) // Saturday evening
	dep, ok := departure("07:30", sat)
	if !ok || dep.Format("2006-01-02 15:04") != "2026-12-07 07:30" {
		t.Fatalf("Saturday → %v, want Monday 7 Dec 07:30", dep)
	}
	dep, _ = departure("07:30", time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)) // Monday; 8 Dec is a holiday
	if dep.Format("2006-01-02") != "2026-12-09" {
		t.Fatalf("before the Immacolata → %v, want 9 Dec", dep)
	}
}

// A waiting van starts on part of its minimum from PV when buying the rest
// now costs less than exporting it (van_pv_bias 0.5 halves the break-even
// share: F1 0.30 against tonight's F3 0.18 → 40 % → 20 %, 828 W of 4 140 W).
// Once started it rides a falling sun down: it stops only when the surplus
// is under a twentieth of that (41 W) for pv_stop_delay.
func TestVanStartsOnPartOfItsMinimumAndRidesTheSunDown(t *testing.T) {
	o := vanOffice()
	van := map[string]float64{"CP01/1": 6}
	run(t, o, []cycle{
		{at: 0, baseW: 1000, pvW: 2000, want: map[string]float64{"CP01/1": 0}},
		{at: 61 * s, baseW: 1000, pvW: 2000, want: van, why: map[string]string{"CP01/1": ReasonVanPlan}},
		// 600 W, then 100 W: under the start share, over the stop share:
		// it goes on.
		{at: 2 * time.Minute, baseW: 1000, pvW: 1600, draw: van, want: van},
		{at: 6 * time.Minute, baseW: 1000, pvW: 1100, draw: van, want: van},
		{at: 10 * time.Minute, baseW: 1000, pvW: 1100, draw: van, want: van},
		// 20 W: under the stop share; held at the minimum for the stop
		// delay, then paused.
		{at: 11 * time.Minute, baseW: 1000, pvW: 1020, draw: van, want: van},
		{at: 14*time.Minute + s, baseW: 1000, pvW: 1020, draw: van, want: map[string]float64{"CP01/1": 0}},
	})
	// van_pv_bias 0: only the break-even share (1 656 W) starts it.
	o.cfg.VanPVBias = ptr(0.0)
	run(t, o, []cycle{
		{at: 0, baseW: 1000, pvW: 2000, want: map[string]float64{"CP01/1": 0}},
		{at: 61 * s, baseW: 1000, pvW: 2000, want: map[string]float64{"CP01/1": 0}},
		{at: 2 * time.Minute, baseW: 1000, pvW: 3000, want: map[string]float64{"CP01/1": 0}},
		{at: 3*time.Minute + s, baseW: 1000, pvW: 3000, want: map[string]float64{"CP01/1": 6}},
	})
}

// The plan counts the sun by its height: early morning a little, midday
// most, winter less, night nothing; so a van that needs little before a
// summer 07:30 departure leaves it to the morning PV, and one that needs
// more charges in the night's F3.
func TestVanPlanCountsTheMorningSun(t *testing.T) {
	cfg := Config{PVPeakW: 10000, Prices: Prices{F1: 0.32, F2: 0.27, F3: 0.21}}
	rome := func(mo time.Month, d, hh, mm int) time.Time {
		return time.Date(2026, mo, d, hh, mm, 0, 0, time.FixedZone("CEST", 2*3600))
	}
	for _, c := range []struct {
		at       time.Time
		min, max float64
	}{
		{rome(time.June, 21, 13, 20), 4500, 5000}, // sun near 70°
		{rome(time.December, 21, 13, 20), 1800, 2400},
		{rome(time.June, 15, 7, 0), 800, 1500},
		{rome(time.June, 15, 2, 0), 0, 0},
	} {
		if got := expectedPVW(&cfg, c.at); got < c.min || got > c.max {
			t.Errorf("expected PV at %s: %.0f W, want %.0f-%.0f", c.at.Format("Jan 2 15:04"), got, c.min, c.max)
		}
	}
	now, dep := rome(time.June, 15, 4, 0), rome(time.June, 15, 7, 30)
	if chargeNow(&cfg, now, dep, 1, 11000) {
		t.Error("1 kWh before a summer 07:30: the morning sun brings it, yet the plan charges now")
	}
	if !chargeNow(&cfg, now, dep, 5, 11000) {
		t.Error("5 kWh before a summer 07:30: more than the morning sun, yet the plan waits")
	}
}
