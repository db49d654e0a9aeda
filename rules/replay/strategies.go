package replay

import (
	"sort"
	"strconv"
	"time"

	"github.com/polis-edge/polis/rules"
	"github.com/polis-edge/polis/rules/image"
)

// Uncontrolled never sets a limit: every car draws what it can.
type Uncontrolled struct{}

func (Uncontrolled) Name() string                              { return "uncontrolled" }
func (Uncontrolled) Limits(time.Time, View) map[string]float64 { return nil }

// EvccLike is the baseline load manager: every Interval it adjusts one
// charger, in arrival order (first come, first served), by the headroom
// the meter shows at that moment.
type EvccLike struct {
	AvailableW float64
	Interval   time.Duration
	next       time.Time
	turn       int
}

func (*EvccLike) Name() string { return "evcc-like" }

func (e *EvccLike) Limits(t time.Time, v View) map[string]float64 {
	if t.Before(e.next) {
		return nil
	}
	e.next = t.Add(e.Interval)
	var active []ConnView
	for _, c := range v.Conns {
		if c.Plugged && !c.Suspended {
			active = append(active, c)
		}
	}
	if len(active) == 0 || t.Sub(v.MeterAt) > 10*time.Second {
		return nil // no reading: it leaves things as they are
	}
	sort.SliceStable(active, func(i, j int) bool { return active[i].Arrive.Before(active[j].Arrive) })
	c := active[e.turn%len(active)]
	e.turn++
	phases := 0
	for _, a := range c.DrawA {
		if a > 0 {
			phases++
		}
	}
	if phases == 0 {
		phases = 3
	}
	a := c.LimitA + (e.AvailableW-v.GridW)/(V*float64(phases))
	switch {
	case a > c.MaxA:
		a = c.MaxA
	case a < 6:
		a = 0
	}
	return map[string]float64{c.ID: float64(int(a*10)) / 10}
}

// Ours runs the real rules engine every second on a snapshot built from
// what the model's meter and chargers report.
type Ours struct {
	eng  *rules.Engine
	sent map[string]float64
}

// NewOurs builds the engine for cfg (defaults are applied here).
func NewOurs(cfg rules.Config) (*Ours, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Ours{eng: rules.NewEngine(cfg), sent: map[string]float64{}}, nil
}

func (*Ours) Name() string { return "ours" }

// DefaultLimit: the safe limit the edge installs as every charger's default
// profile, which a new session starts with.
func (o *Ours) DefaultLimit() float64 { return o.eng.Config().SafeLimitA }

func (o *Ours) Limits(t time.Time, v View) map[string]float64 {
	snap := image.Snapshot{Taken: t, Values: map[string]map[string]map[string]image.Value{
		"grid": {"meter": {"power_w": {V: v.GridW, At: v.MeterAt}}},
		"pv":   {"inv1": {"ac_power_w": {V: v.PVW, At: t}}},
	}}
	for _, c := range v.Conns {
		ch := image.Charger{ChargerID: c.ID, Connector: 1, Online: true, Status: "Available", SoCPct: c.SoCPct}
		if c.Plugged {
			ch.Session, ch.IDTag, ch.SessionStart, ch.SessionWh = true, c.Tag, c.Arrive, c.SessionWh
			ch.TransactionID = c.ID + strconv.FormatInt(c.Arrive.Unix(), 10)
			ch.Status = "Charging"
			if c.Suspended {
				ch.Status = "SuspendedEV"
			}
			if c.Van {
				ch.Group = rules.FleetGroup
			}
			ch.CurrentA, ch.PowerW, ch.MeterAt = c.DrawA, c.PowerW, c.ReportedAt
		}
		snap.Chargers = append(snap.Chargers, ch)
	}
	// The limit in force is what the charger confirmed (the model applies
	// it after the charger's reaction delay, when a real one answers).
	in := rules.Inputs{Confirmed: map[string]float64{}}
	for _, c := range v.Conns {
		if c.Plugged {
			in.Confirmed[c.ID+"/1"] = c.LimitA
		}
	}
	d := o.eng.Step(snap, t, in)
	out := map[string]float64{}
	live := map[string]bool{}
	for _, sp := range d.Setpoints {
		key := sp.ChargerID + "@" + txOf(snap, sp.ChargerID)
		live[key] = true
		if last, ok := o.sent[key]; !ok || last != sp.Amps {
			out[sp.ChargerID] = sp.Amps
			o.sent[key] = sp.Amps
		}
	}
	for k := range o.sent {
		if !live[k] {
			delete(o.sent, k) // session over: the next one starts afresh
		}
	}
	return out
}

func txOf(s image.Snapshot, id string) string {
	for _, c := range s.Chargers {
		if c.ChargerID == id {
			return c.TransactionID
		}
	}
	return ""
}
