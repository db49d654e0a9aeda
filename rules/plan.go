package rules

import (
	"math"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// Reason codes, written in the rules measurement and served on the API.
const (
	ReasonOK         = "ok"         // got what it wanted
	ReasonHeadroom   = "headroom"   // capped by the contracted power
	ReasonFuse       = "fuse"       // capped by a per-phase fuse
	ReasonPaused     = "paused"     // even the minimum did not fit: paused
	ReasonRamp       = "ramp"       // increasing step by step
	ReasonMinOff     = "min_off"    // paused less than min_off ago
	ReasonShort      = "short"      // its minimum does not fit: held there for pause_after, then paused
	ReasonMinOn      = "min_on"     // kept at minimum until min_on has passed
	ReasonFailsafe   = "failsafe"   // grid meter stale: safe limit
	ReasonMode       = "mode"       // the mode wants less (off, pv without surplus)
	ReasonVanPlan    = "van_plan"   // van waits for a cheaper band or PV
	ReasonRejected   = "rejected"   // the charger rejected our profile
	ReasonOverride   = "override"   // an operator's temporary override
	ReasonPVSurplus  = "pv_surplus" // following the PV surplus
	ReasonHysteresis = "hysteresis" // not enough headroom yet to start
	ReasonEVIdle     = "ev_idle"    // the car draws nothing (SuspendedEV): its minimum is kept ready
)

// Conn is one connector with a session, as the controllers of one cycle see
// and shape it. Demand controllers only lower WantA (Want); the guard's
// budget is the cap nobody below it can raise.
type Conn struct {
	Key        string
	ChargerID  string
	Connector  int
	Cfg        ChargerConfig
	Group      string
	IDTag      string
	Priority   int
	Mode       string
	Phases     int     // 1 or 3 for this session
	Phase      int     // the phase (1-3) a 1-phase session uses
	DrawW      float64 // what it draws now
	DrawA      [3]float64
	SoCPct     float64
	SessionWh  float64
	Start      time.Time
	Departure  string
	Controlled bool // false when the charger rejects our profiles: its draw is base load

	// pvStart is the share of its minimum the PV surplus must cover to
	// start it in pv mode (0 means all of it).
	pvStart float64

	WantA  float64 // what the demand controllers want, <= Cfg.MaxA
	Reason string  // why WantA is below MaxA

	SetA   float64 // the decision: per-phase amps, 0 = paused
	SetWhy string
}

// Want lowers what a connector asks for; it never raises it.
func (c *Conn) Want(a float64, reason string) {
	if a < c.WantA {
		c.WantA, c.Reason = math.Max(a, 0), reason
	}
}

// phaseMask reports which phases a session loads.
func (c *Conn) phaseMask() [3]bool {
	if c.Phases == 3 {
		return [3]bool{true, true, true}
	}
	var m [3]bool
	m[c.Phase-1] = true
	return m
}

// Plan is one cycle's working state, passed down the controller chain.
type Plan struct {
	Now        time.Time
	AvailableW float64
	ImportW    float64 // last trusted grid reading, + import
	MeterOK    bool
	Failsafe   bool
	PhaseA     [3]float64 // measured grid current per phase, NaN unknown
	BudgetW    float64    // what the controlled chargers may draw together
	BaseW      float64    // office load without the controlled chargers, − PV
	BudgetA    [3]float64 // per phase, +Inf without a fuse
	PVW        float64    // total PV production
	Conns      []*Conn
	Inverters  []InverterSet
	Events     []sample.Sample
	Errors     int // counted errors this cycle (nonsense reads, rule errors)
}

// InverterSet is a curtailment decision; LimitW < 0 means "no limit".
type InverterSet struct {
	ID     string
	LimitW float64
	Reason string
}

// event adds an event; key names it among events of the same kind at the
// same instant (sample.Distinct), e.g. the connector of a van.
func (p *Plan) event(kind, key, severity, msg string, extra map[string]any) {
	p.Events = append(p.Events, sample.Event(EventDevice, kind, severity, msg, p.Now, extra).Distinct(kind+"/"+key))
}

// EventDevice is the device tag of the rules' own points and events.
const EventDevice = "rules"
