package rules

import (
	"testing"

	"github.com/polis-edge/polis/rules/image"
)

func pvOffice(mode string, phaseSwitch bool) office {
	return office{
		cfg: Config{ContractedKW: 15, GridMeter: "meter", RampAPerS: 100,
			Chargers: []ChargerConfig{{ID: "CP01", Mode: mode, PhaseSwitch: phaseSwitch}}},
		chargers: []image.Charger{session("CP01", 1, "public", 0)},
	}
}

func TestPVModeStartAndStopDelays(t *testing.T) {
	run(t, pvOffice(ModePV, false), []cycle{
		// 7 kW exported: enough for 10.1 A, but the surplus must last a minute.
		{at: 0, baseW: 1000, pvW: 8000, want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonPVSurplus}},
		{at: 30 * s, baseW: 1000, pvW: 8000, want: map[string]float64{"CP01/1": 0}},
		{at: 61 * s, baseW: 1000, pvW: 8000, want: map[string]float64{"CP01/1": 10.1}},
		// Following the surplus it creates: steady, no export, no import.
		{at: 70 * s, baseW: 1000, pvW: 8000, draw: map[string]float64{"CP01/1": 10.1}, want: map[string]float64{"CP01/1": 10.1}},
		// A cloud: 2 kW surplus is under the 6 A minimum. Within the stop
		// delay the car holds 6 A instead of stopping at once.
		{at: 80 * s, baseW: 1000, pvW: 3000, draw: map[string]float64{"CP01/1": 10.1}, want: map[string]float64{"CP01/1": 6}},
		{at: 200 * s, baseW: 1000, pvW: 3000, draw: map[string]float64{"CP01/1": 6}, want: map[string]float64{"CP01/1": 6}},
		{at: 261 * s, baseW: 1000, pvW: 3000, draw: map[string]float64{"CP01/1": 6}, want: map[string]float64{"CP01/1": 0},
			why: map[string]string{"CP01/1": ReasonPVSurplus}},
	})
}

func TestMinPVAndOffModes(t *testing.T) {
	run(t, pvOffice(ModeMinPV, false), []cycle{
		{at: 0, baseW: 1000, pvW: 3000, want: map[string]float64{"CP01/1": 6}},
		{at: 1 * s, baseW: 1000, pvW: 8000, draw: map[string]float64{"CP01/1": 6}, want: map[string]float64{"CP01/1": 10.1}},
	})
	run(t, pvOffice(ModeOff, false), []cycle{
		{at: 0, baseW: 1000, pvW: 8000, want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonMode}},
	})
	// The mode never raises the guard's cap: now on a full supply.
	run(t, pvOffice(ModeNow, false), []cycle{
		{at: 0, baseW: 12000, pvW: 0, want: map[string]float64{"CP01/1": 0}, why: map[string]string{"CP01/1": ReasonHysteresis}},
	})
}

func TestPVSwitchesToOnePhase(t *testing.T) {
	o := pvOffice(ModePV, true)
	var phases []int
	check := func(t *testing.T, d Decision) { phases = append(phases, d.Setpoints[0].Phases) }
	run(t, o, []cycle{
		// 2.5 kW: under the 4 140 W three-phase minimum, over the 1 380 W
		// single-phase one: switch to one phase, 10.8 A.
		{at: 0, baseW: 500, pvW: 3000, want: map[string]float64{"CP01/1": 0}, check: check},
		{at: 61 * s, baseW: 500, pvW: 3000, want: map[string]float64{"CP01/1": 10.8}, check: check},
		// 6 kW of surplus: back to three phases (8.6 A) once start_delay
		// has passed since the last switch.
		{at: 70 * s, baseW: 500, pvW: 9000, draw: map[string]float64{"CP01/1": 0}, check: check},
		{at: 131 * s, baseW: 500, pvW: 9000, want: map[string]float64{"CP01/1": 12.3}, check: check},
	})
	if want := []int{1, 1, 1, 3}; len(phases) != 4 || phases[0] != 1 || phases[1] != 1 || phases[3] != 3 {
		t.Fatalf("phases per cycle %v, want %v", phases, want)
	}
}

// A van charging now whose plan moves to "wait for the sun" keeps charging
// under the pv rules while the surplus covers its stop share, instead of
// stopping to wait out pv_start_delay and starting again (each flip of the
// plan in the morning was a stop and a start). An operator's switch to pv
// keeps min_on semantics (TestGuardMinOnAndOverridesNeverExceedTheCap).
func TestVanMovedFromNowToTheSunKeepsCharging(t *testing.T) {
	cfg := Config{ContractedKW: 10, GridMeter: "meter"}
	cfg.ApplyDefaults()
	m := newPVModes()
	van := func(mode string) *Conn {
		c := &Conn{Key: "CP01/1", ChargerID: "CP01", Connector: 1, Group: FleetGroup, Mode: mode, Phases: 3,
			Cfg: ChargerConfig{MinA: 6, MaxA: 16, Phases: 3}, WantA: 16, DrawA: [3]float64{16, 16, 16}, DrawW: 16 * 3 * 230}
		if mode == ModePV {
			c.pvStart = 0.2 // the van plan's start share
		}
		return c
	}
	// 2 kW would be exported with the van off: 48 % of its 4 140 W minimum.
	m.Run(&cfg, &Plan{Now: t0, MeterOK: true, BaseW: -2000, Conns: []*Conn{van(ModeNow)}})
	c := van(ModePV)
	m.Run(&cfg, &Plan{Now: t0.Add(s), MeterOK: true, BaseW: -2000, Conns: []*Conn{c}})
	if c.WantA != 6 || c.Reason != ReasonVanPlan {
		t.Fatalf("van moved to the sun with 2 kW of surplus: wants %.1f A (%s), want 6 A (van_plan)", c.WantA, c.Reason)
	}
}

// A car that stops drawing hands its power to a waiting pv session at once:
// the surplus it leaves was PV already in use, not a gap in the clouds.
func TestFreedPowerIsHandedToAWaitingPVSession(t *testing.T) {
	o := office{
		cfg: Config{ContractedKW: 15, GridMeter: "meter", RampAPerS: 100,
			Chargers: []ChargerConfig{{ID: "CP01", Mode: ModeNow}, {ID: "CP02", Mode: ModePV}}},
		chargers: []image.Charger{session("CP01", 1, "public", 0), session("CP02", 1, "public", 0)},
	}
	run(t, o, []cycle{
		// CP01 takes 6.9 kW of the 8 kW surplus; 1.1 kW does not start CP02.
		{at: 0, baseW: 1000, pvW: 9000, draw: map[string]float64{"CP01/1": 10}, want: map[string]float64{"CP02/1": 0}},
		{at: 30 * s, baseW: 1000, pvW: 9000, draw: map[string]float64{"CP01/1": 10}, want: map[string]float64{"CP02/1": 0}},
		// CP01's car is full: its 6.9 kW go to CP02 now, not a minute later.
		{at: 40 * s, baseW: 1000, pvW: 9000, draw: map[string]float64{"CP01/1": 0}, want: map[string]float64{"CP02/1": 11.5}},
	})
	// Without a freed draw, the same surplus waits out pv_start_delay.
	run(t, o, []cycle{
		{at: 0, baseW: 1000, pvW: 2000, want: map[string]float64{"CP02/1": 0}},
		{at: 40 * s, baseW: 1000, pvW: 9000, want: map[string]float64{"CP02/1": 0}},
		{at: 101 * s, baseW: 1000, pvW: 9000, want: map[string]float64{"CP02/1": 11.5}},
	})
}
