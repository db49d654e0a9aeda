package rules

import "testing"

func TestExportLimitCurtailsAndReleases(t *testing.T) {
	zero := 0.0
	o := office{cfg: Config{ContractedKW: 6, GridMeter: "meter", ExportLimitW: &zero}}
	inv := func(w float64) func(t *testing.T, d Decision) {
		return func(t *testing.T, d Decision) {
			if len(d.Inverters) != 1 || d.Inverters[0].LimitW != w {
				t.Errorf("inverter limit %+v, want %.0f W", d.Inverters, w)
			}
		}
	}
	run(t, o, []cycle{
		// Zero export, 3 kW going out: curtail to 900 W (100 W margin).
		{at: 0, baseW: 1000, pvW: 4000, pvRated: 6000, events: []string{"curtailment_started"}, check: inv(900)},
		// The inverter obeys: nothing exported, hold.
		{at: 2 * s, baseW: 1000, pvW: 900, pvRated: 6000, check: inv(900)},
		// The office's load rises: release just as much.
		{at: 4 * s, baseW: 2000, pvW: 900, pvRated: 6000, check: inv(1900)},
		{at: 6 * s, baseW: 2000, pvW: 1900, pvRated: 6000, check: inv(1900)},
		// Load beyond the rating: curtailment ends.
		{at: 8 * s, baseW: 7000, pvW: 1900, pvRated: 6000, events: []string{"curtailment_ended"}, check: inv(-1)},
	})
}

func TestExportLimitLetsChargersTakeThePVFirst(t *testing.T) {
	lim := 0.0
	o := pvOffice(ModeNow, false)
	o.cfg.ExportLimitW = &lim
	o.cfg.ContractedKW = 6
	run(t, o, []cycle{
		// 5 kW exported with a car plugged: the car takes it, no curtailment.
		{at: 0, baseW: 1000, pvW: 6000, pvRated: 6000, want: map[string]float64{"CP01/1": 16.5}, check: func(t *testing.T, d Decision) {
			if len(d.Inverters) != 1 || d.Inverters[0].LimitW != -1 {
				t.Errorf("inverters %+v, want no limit", d.Inverters)
			}
		}},
	})
}
