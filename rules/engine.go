package rules

import (
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/image"
)

// Inputs are what the runner knows besides the snapshot: actuation results
// and operator choices.
type Inputs struct {
	Rejected  map[string]bool     // connector key → its charger rejects our profiles
	Modes     map[string]string   // charger id → operator-set mode
	Overrides map[string]Override // connector key → temporary override
	Confirmed map[string]float64  // connector key → limit the charger confirmed (A)
}

// Override is an operator's temporary limit for one connector. It is still
// capped by the guard: an override can lower or ask, never exceed the supply.
type Override struct {
	Amps  float64   `json:"amps"`
	Until time.Time `json:"until"`
	By    string    `json:"by"`
}

// Setpoint is a charger limit decision.
type Setpoint struct {
	Key       string  `json:"key"`
	ChargerID string  `json:"charger_id"`
	Connector int     `json:"connector"`
	Amps      float64 `json:"amps"`   // per phase; 0 pauses
	Phases    int     `json:"phases"` // 1 or 3
	Reason    string  `json:"reason"`
	Mode      string  `json:"mode"`
	Group     string  `json:"group,omitempty"`
	DrawW     float64 `json:"draw_w"`
}

// Decision is one cycle's output.
type Decision struct {
	Now        time.Time       `json:"now"`
	AvailableW float64         `json:"available_w"`
	ImportW    float64         `json:"import_w"`
	BudgetW    float64         `json:"budget_w"`
	PVW        float64         `json:"pv_w"`
	MeterOK    bool            `json:"meter_ok"`
	Failsafe   bool            `json:"failsafe"`
	Band       string          `json:"band"`
	Setpoints  []Setpoint      `json:"setpoints"`
	Inverters  []InverterSet   `json:"inverters,omitempty"`
	Events     []sample.Sample `json:"-"`
	Errors     int             `json:"errors"`
}

// Engine runs the controller chain. It is not safe for concurrent use: the
// runner owns it. It reads no clock: time comes with every Step.
type Engine struct {
	cfg    Config
	guard  *Guard
	vans   *Vans
	pv     *PVModes
	export *ExportLimit
	draws  *draws
}

// NewEngine builds the chain for cfg (defaults applied, validated).
func NewEngine(cfg Config) *Engine {
	return &Engine{cfg: cfg, guard: newGuard(), vans: newVans(), pv: newPVModes(), export: &ExportLimit{}, draws: newDraws()}
}

// SetConfig swaps the config (SIGHUP) keeping every controller's state, so
// a reload neither restarts ramps nor forgets a fail-safe.
func (e *Engine) SetConfig(cfg Config) { e.cfg = cfg }

// Config returns the config in force.
func (e *Engine) Config() Config { return e.cfg }

// Step runs one cycle over snap at time now.
func (e *Engine) Step(snap image.Snapshot, now time.Time, in Inputs) Decision {
	cfg := e.cfg
	if cfg.GridMeter == "" {
		cfg.GridMeter = onlyDevice(snap, "grid")
	}
	p := &Plan{Now: now, PhaseA: [3]float64{math.NaN(), math.NaN(), math.NaN()}}
	e.readGrid(&cfg, p, &snap)
	p.Conns = e.conns(&cfg, &snap, now, in)

	// Highest priority first. The guard's budget is the cap; the demand
	// controllers only lower what sessions want (Conn.Want) or reorder who
	// goes first; Allocate shares the budget; the export limit and the user
	// rules act on what is left.
	e.guard.Budget(&cfg, p, &snap)
	e.vans.Run(&cfg, p)
	e.pv.Run(&cfg, p)
	e.guard.Allocate(&cfg, p)
	e.export.Run(&cfg, p, &snap)

	d := Decision{
		Now: now, AvailableW: p.AvailableW, ImportW: p.ImportW, BudgetW: p.BudgetW, PVW: p.PVW,
		MeterOK: p.MeterOK, Failsafe: p.Failsafe, Band: BandAt(now).String(), Inverters: p.Inverters,
		Events: p.Events, Errors: p.Errors,
	}
	for _, c := range p.Conns {
		d.Setpoints = append(d.Setpoints, Setpoint{
			Key: c.Key, ChargerID: c.ChargerID, Connector: c.Connector, Amps: c.SetA, Phases: c.Phases,
			Reason: c.SetWhy, Mode: c.Mode, Group: c.Group, DrawW: c.DrawW,
		})
	}
	return d
}

// readGrid takes the meter's per-phase currents and the PV production.
func (e *Engine) readGrid(cfg *Config, p *Plan, snap *image.Snapshot) {
	for i := 0; i < 3; i++ {
		n := strconv.Itoa(i + 1)
		if a, at, ok := snap.Float("grid", cfg.GridMeter, "current_l"+n+"_a"); ok && p.Now.Sub(at) <= cfg.MeterStaleAfter {
			p.PhaseA[i] = math.Abs(a)
		} else if w, at, ok := snap.Float("grid", cfg.GridMeter, "power_l"+n+"_w"); ok && p.Now.Sub(at) <= cfg.MeterStaleAfter {
			p.PhaseA[i] = math.Abs(w) / cfg.VoltageV
		}
	}
	for dev := range snap.Values["pv"] {
		if w, at, ok := snap.Float("pv", dev, "ac_power_w"); ok && p.Now.Sub(at) <= cfg.MeterStaleAfter && w > 0 {
			p.PVW += w
		}
	}
}

// active: a connector with a session that may draw power.
func active(c image.Charger) bool {
	if !c.Session || !c.Online {
		return false
	}
	switch c.Status {
	case "Available", "Faulted", "Unavailable", "Finishing", "Reserved":
		return false
	}
	return true
}

func (e *Engine) conns(cfg *Config, snap *image.Snapshot, now time.Time, in Inputs) []*Conn {
	var out []*Conn
	live := map[string]bool{}
	defer e.draws.sweep(live)
	for _, ch := range snap.Chargers {
		if !active(ch) {
			continue
		}
		cc := cfg.charger(ch.ChargerID)
		grp := cfg.Groups[ch.Group]
		c := &Conn{
			Key: ch.Key(), ChargerID: ch.ChargerID, Connector: ch.Connector, Cfg: cc,
			Group: ch.Group, IDTag: ch.IDTag, Priority: cc.Priority + grp.Priority,
			Phases: cc.Phases, Phase: cc.SinglePhaseL, SoCPct: ch.SoCPct, SessionWh: ch.SessionWh,
			Start: ch.SessionStart, Departure: ch.Departure, Controlled: !in.Rejected[ch.Key()],
			WantA: cc.MaxA,
		}
		c.Mode = firstNonEmpty(in.Modes[ch.ChargerID], cc.Mode, grp.Mode, cfg.DefaultMode)
		if cc.Phases == 3 {
			// A single-phase car on a three-phase charger loads one phase only.
			var n, ph int
			for i, a := range ch.CurrentA {
				if a > 1 {
					n, ph = n+1, i+1
				}
			}
			if n == 1 {
				c.Phases, c.Phase = 1, ph
			}
		}
		lim, ok := in.Confirmed[c.Key]
		e.draws.estimate(cfg, c, ch, lim, ok)
		live[c.Key] = true
		if ch.Status == "SuspendedEV" {
			// The car takes nothing now (full, or its own timer): keep the
			// minimum ready for it and give the rest to others.
			c.WantA, c.Reason = cc.MinA, ReasonEVIdle
		}
		if ov, ok := in.Overrides[c.Key]; ok && now.Before(ov.Until) {
			c.WantA, c.Reason = math.Min(ov.Amps, cc.MaxA), ReasonOverride
			if ov.Amps > 0 && ov.Amps < cc.MinA {
				c.WantA = cc.MinA
			}
		}
		out = append(out, c)
	}
	return out
}

func onlyDevice(snap image.Snapshot, measurement string) string {
	var ids []string
	for id := range snap.Values[measurement] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
