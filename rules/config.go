// Package rules decides: every cycle it reads one snapshot of the office's
// process image and produces charger limits, inverter curtailment and
// events. Controllers are pure functions of (snapshot, time, their own
// state); actuation and I/O live in the Runner (runner.go) and in the edge.
//
// Controllers, highest priority first: the contracted-power guard, vans
// ready by departure, PV surplus modes, the export limit, user rules.
// docs/energy-rules.md explains how each decides.
package rules

import (
	"fmt"
	"strings"
	"time"
)

// Charging modes of a non-fleet session (docs/energy-rules.md).
const (
	ModeOff   = "off"   // never charge
	ModeNow   = "now"   // as fast as the guard allows
	ModeMinPV = "minpv" // 6 A plus PV surplus
	ModePV    = "pv"    // PV surplus only
)

// Config is the `rules:` section of the edge config. It reloads on SIGHUP.
type Config struct {
	Cycle           time.Duration `yaml:"cycle"`             // default 1s
	WriteEvery      time.Duration `yaml:"write_every"`       // rules point at least this often; default 10s
	GridMeter       string        `yaml:"grid_meter"`        // device id of the grid meter; default: the only `grid` device
	ContractedKW    float64       `yaml:"contracted_kw"`     // potenza impegnata
	TolerancePct    float64       `yaml:"tolerance_pct"`     // meter tolerance over contracted; default 10
	MarginW         float64       `yaml:"margin_w"`          // kept free under the available power; default 200
	FuseA           float64       `yaml:"fuse_a"`            // per-phase fuse; 0 = not enforced
	VoltageV        float64       `yaml:"voltage_v"`         // per phase; default 230
	MeterStaleAfter time.Duration `yaml:"meter_stale_after"` // fail-safe past this age; default 10s
	SafeLimitA      float64       `yaml:"safe_limit_a"`      // per connector in fail-safe and as default profile; default 6
	PVPeakW         float64       `yaml:"pv_peak_w"`         // installed PV: export beyond it is nonsense
	MaxJumpW        float64       `yaml:"max_jump_w"`        // a step larger than this between reads is nonsense; default 100000
	RampAPerS       float64       `yaml:"ramp_a_per_s"`      // increases ramp at this rate; default 2
	MinOn           time.Duration `yaml:"min_on"`            // a started session runs at least this long; default 2m
	MinOff          time.Duration `yaml:"min_off"`           // a paused session stays paused at least this long; default 1m
	HysteresisW     float64       `yaml:"hysteresis_w"`      // extra headroom needed to (re)start a session; default 500
	PauseAfter      time.Duration `yaml:"pause_after"`       // a session raised less than this ago is held at its minimum, not paused, when it no longer fits; default 2s
	ActuationTimout time.Duration `yaml:"actuation_timeout"` // a setpoint unanswered this long is timed out; default 10s

	Chargers []ChargerConfig        `yaml:"chargers"`
	Groups   map[string]GroupConfig `yaml:"groups"` // by idTag group; `fleet` holds the vans
	Vans     map[string]VanConfig   `yaml:"vans"`   // by idTag

	Prices       Prices        `yaml:"prices"`         // €/kWh per band
	ExportLimitW *float64      `yaml:"export_limit_w"` // nil: no limit; 0: zero export
	Inverters    []string      `yaml:"inverters"`      // curtailable inverters; default every `pv` device
	StartDelay   time.Duration `yaml:"pv_start_delay"` // surplus must last this long to start a pv session; default 1m
	StopDelay    time.Duration `yaml:"pv_stop_delay"`  // and be missing this long to stop it; default 3m
	OfficeHours  OfficeHours   `yaml:"office_hours"`
	Alerts       []AlertConfig `yaml:"alerts"`
	DefaultMode  string        `yaml:"default_mode"` // for chargers and groups without one; default now
	// VanPVBias: 0 starts a van waiting for a cheaper band on PV only when
	// that costs no more than waiting; 1 on any surplus. Default 0.5.
	VanPVBias *float64 `yaml:"van_pv_bias"`
}

// DefaultVanPVBias is van_pv_bias when unset.
const DefaultVanPVBias = 0.5

// VanPVBiasOrDefault is van_pv_bias, or its default when unset.
func (c *Config) VanPVBiasOrDefault() float64 {
	if c.VanPVBias == nil {
		return DefaultVanPVBias
	}
	return *c.VanPVBias
}

// ChargerConfig describes one charge point.
type ChargerConfig struct {
	ID           string  `yaml:"id"`
	MaxA         float64 `yaml:"max_a"`        // per phase; default 32
	MinA         float64 `yaml:"min_a"`        // default 6
	Phases       int     `yaml:"phases"`       // 1 or 3; default 3
	PhaseSwitch  bool    `yaml:"phase_switch"` // can switch 3p→1p on a limit with numberPhases
	Priority     int     `yaml:"priority"`     // higher keeps charging when not all fit
	Mode         string  `yaml:"mode"`         // off, now, minpv, pv
	SinglePhaseL int     `yaml:"single_phase"` // 1p chargers: which phase (1-3); default 1
}

// GroupConfig applies to sessions whose idTag is in the group.
type GroupConfig struct {
	Mode      string  `yaml:"mode"`
	Priority  int     `yaml:"priority"`
	Departure string  `yaml:"departure"`  // HH:MM, vans of the fleet group
	EnergyKWh float64 `yaml:"energy_kwh"` // need when SoC is unknown
}

// VanConfig is one delivery van, by its idTag.
type VanConfig struct {
	Departure   string  `yaml:"departure"`    // HH:MM, else the group's
	CapacityKWh float64 `yaml:"capacity_kwh"` // with SoC gives the need
	EnergyKWh   float64 `yaml:"energy_kwh"`   // need when SoC is unknown
}

// Prices per ARERA band, €/kWh.
type Prices struct {
	F1 float64 `yaml:"f1"`
	F2 float64 `yaml:"f2"`
	F3 float64 `yaml:"f3"`
}

// OfficeHours decide office.open in user rules.
type OfficeHours struct {
	Weekdays string `yaml:"weekdays"` // "08:20-13:45"
	Saturday string `yaml:"saturday"` // "08:20-12:45"; empty = closed
}

// AlertConfig is a user rule (docs/energy-rules.md, "User rules").
type AlertConfig struct {
	Name     string        `yaml:"name"`
	When     string        `yaml:"when"`     // expr-lang boolean expression over the snapshot
	For      time.Duration `yaml:"for"`      // must hold this long before firing
	Clear    string        `yaml:"clear"`    // optional; default: `when` false for `for`
	Severity string        `yaml:"severity"` // info, warning, critical
	Message  string        `yaml:"message"`
	Action   *ActionConfig `yaml:"action"`
}

// ActionConfig publishes an MQTT command when a rule fires (and on clear).
type ActionConfig struct {
	Topic        string `yaml:"topic"`
	Payload      string `yaml:"payload"`
	ClearPayload string `yaml:"clear_payload"`
}

// Defaults fills unset keys.
func (c *Config) ApplyDefaults() {
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setF := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	setD(&c.Cycle, time.Second)
	setD(&c.WriteEvery, 10*time.Second)
	setD(&c.MeterStaleAfter, 10*time.Second)
	setD(&c.MinOn, 2*time.Minute)
	setD(&c.MinOff, time.Minute)
	setD(&c.PauseAfter, 2*time.Second)
	setD(&c.ActuationTimout, 10*time.Second)
	setD(&c.StartDelay, time.Minute)
	setD(&c.StopDelay, 3*time.Minute)
	setF(&c.TolerancePct, 10)
	setF(&c.MarginW, 200)
	setF(&c.VoltageV, 230)
	setF(&c.SafeLimitA, 6)
	setF(&c.MaxJumpW, 100000)
	setF(&c.RampAPerS, 2)
	setF(&c.HysteresisW, 500)
	if c.DefaultMode == "" {
		c.DefaultMode = ModeNow
	}
	if c.OfficeHours.Weekdays == "" {
		c.OfficeHours = OfficeHours{Weekdays: "08:20-13:45", Saturday: "08:20-12:45"}
	}
	for i := range c.Chargers {
		ch := &c.Chargers[i]
		setF(&ch.MaxA, 32)
		setF(&ch.MinA, 6)
		if ch.Phases == 0 {
			ch.Phases = 3
		}
		if ch.SinglePhaseL == 0 {
			ch.SinglePhaseL = 1
		}
	}
	for i := range c.Alerts {
		if c.Alerts[i].Severity == "" {
			c.Alerts[i].Severity = "warning"
		}
	}
}

// AvailableW is the power the meter lets through before it trips, less the margin.
func (c Config) AvailableW() float64 {
	return c.ContractedKW*1000*(1+c.TolerancePct/100) - c.MarginW
}

// Validate names every bad key, prefixed "rules.". Alert expressions are
// compiled here too (alerts.go), so a bad rule is a config error.
func (c Config) Validate() error {
	var errs []string
	bad := func(key, f string, a ...any) { errs = append(errs, "rules."+key+": "+fmt.Sprintf(f, a...)) }
	if c.ContractedKW <= 0 {
		bad("contracted_kw", "must be > 0 (the potenza impegnata of the supply), got %v", c.ContractedKW)
	}
	if c.Cycle < 100*time.Millisecond || c.Cycle > time.Minute {
		bad("cycle", "must be 100ms-1m, got %s", c.Cycle)
	}
	if c.TolerancePct < 0 || c.TolerancePct > 50 {
		bad("tolerance_pct", "must be 0-50, got %v", c.TolerancePct)
	}
	if c.FuseA < 0 {
		bad("fuse_a", "must be >= 0, got %v", c.FuseA)
	}
	if c.SafeLimitA < 0 {
		bad("safe_limit_a", "must be >= 0, got %v", c.SafeLimitA)
	}
	if b := c.VanPVBias; b != nil && (*b < 0 || *b > 1) {
		bad("van_pv_bias", "must be 0-1, got %v", *b)
	}
	if c.ExportLimitW != nil && *c.ExportLimitW < 0 {
		bad("export_limit_w", "must be >= 0, got %v", *c.ExportLimitW)
	}
	if !validMode(c.DefaultMode) {
		bad("default_mode", "want off, now, minpv or pv, got %q", c.DefaultMode)
	}
	seen := map[string]bool{}
	for i, ch := range c.Chargers {
		key := fmt.Sprintf("chargers[%d]", i)
		if ch.ID == "" {
			bad(key+".id", "must not be empty")
		} else if seen[ch.ID] {
			bad(key+".id", "duplicate %q", ch.ID)
		}
		seen[ch.ID] = true
		if ch.Phases != 1 && ch.Phases != 3 {
			bad(key+".phases", "must be 1 or 3, got %d", ch.Phases)
		}
		if ch.MinA < 6 || ch.MaxA < ch.MinA {
			bad(key+".max_a", "need 6 <= min_a <= max_a, got %v and %v", ch.MinA, ch.MaxA)
		}
		if ch.Mode != "" && !validMode(ch.Mode) {
			bad(key+".mode", "want off, now, minpv or pv, got %q", ch.Mode)
		}
		if ch.SinglePhaseL < 1 || ch.SinglePhaseL > 3 {
			bad(key+".single_phase", "must be 1-3, got %d", ch.SinglePhaseL)
		}
	}
	for name, g := range c.Groups {
		if g.Mode != "" && !validMode(g.Mode) {
			bad("groups."+name+".mode", "want off, now, minpv or pv, got %q", g.Mode)
		}
		if g.Departure != "" {
			if _, err := parseHHMM(g.Departure); err != nil {
				bad("groups."+name+".departure", "%v", err)
			}
		}
	}
	for tag, v := range c.Vans {
		if v.Departure != "" {
			if _, err := parseHHMM(v.Departure); err != nil {
				bad("vans."+tag+".departure", "%v", err)
			}
		}
	}
	if _, _, err := parseSpan(c.OfficeHours.Weekdays); err != nil {
		bad("office_hours.weekdays", "%v", err)
	}
	if c.OfficeHours.Saturday != "" {
		if _, _, err := parseSpan(c.OfficeHours.Saturday); err != nil {
			bad("office_hours.saturday", "%v", err)
		}
	}
	errs = append(errs, validateAlerts(c.Alerts)...)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n  "))
	}
	return nil
}

func validMode(m string) bool { return m == ModeOff || m == ModeNow || m == ModeMinPV || m == ModePV }

// parseHHMM parses "07:30" into minutes after midnight.
func parseHHMM(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("want HH:MM, got %q", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func parseSpan(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want HH:MM-HH:MM, got %q", s)
	}
	from, err := parseHHMM(a)
	if err != nil {
		return 0, 0, err
	}
	to, err := parseHHMM(b)
	if err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

// charger returns the config of a charge point, defaults when unlisted.
func (c Config) charger(id string) ChargerConfig {
	for _, ch := range c.Chargers {
		if ch.ID == id {
			return ch
		}
	}
	return ChargerConfig{ID: id, MaxA: 32, MinA: 6, Phases: 3, SinglePhaseL: 1}
}
