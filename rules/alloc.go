package rules

import (
	"math"
	"sort"
	"time"
)

// Allocate shares the budget across every session at once. Sessions are
// admitted by priority (then the one already charging, then the older
// session) at their minimum; when even the minimum does not fit, the rest
// are paused. What is left is shared equally (water filling) up to what
// each wants, within the total and every phase's fuse. Decreases apply at
// once; increases ramp at ramp_a_per_s; minimum on/off times and a start
// hysteresis keep a charger from being started and stopped every few
// seconds. Safety and an operator's explicit override win over min_on.
func (g *Guard) Allocate(cfg *Config, p *Plan) {
	dt := cfg.Cycle
	if !g.lastCycle.IsZero() && p.Now.After(g.lastCycle) {
		dt = p.Now.Sub(g.lastCycle)
	}
	g.lastCycle = p.Now
	live := map[string]bool{}
	for _, c := range p.Conns {
		live[c.Key] = true
		st := g.conns[c.Key]
		if st == nil || st.tx != c.Start.String() {
			st = &connState{tx: c.Start.String(), since: time.Time{}}
			g.conns[c.Key] = st
		}
	}
	for k := range g.conns {
		if !live[k] {
			delete(g.conns, k)
		}
	}
	if p.Failsafe {
		g.failsafeAllocate(cfg, p)
		return
	}

	order := append([]*Conn(nil), p.Conns...)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if oa, ob := g.conns[a.Key].on, g.conns[b.Key].on; oa != ob {
			return oa // the one charging keeps charging: no churn
		}
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return a.Key < b.Key
	})

	remW, remA := p.BudgetW, p.BudgetA
	V := cfg.VoltageV
	fits := func(c *Conn, amps, extraW float64) bool {
		if amps*V*float64(c.Phases)+extraW > remW+1e-9 {
			return false
		}
		for i, on := range c.phaseMask() {
			if on && amps > remA[i]+1e-9 {
				return false
			}
		}
		return true
	}
	take := func(c *Conn, amps float64) {
		remW -= amps * V * float64(c.Phases)
		for i, on := range c.phaseMask() {
			if on {
				remA[i] -= amps
			}
		}
	}

	var admitted []*Conn
	for _, c := range order {
		st := g.conns[c.Key]
		if !c.Controlled {
			c.SetA, c.SetWhy = 0, ReasonRejected
			continue
		}
		want, why := c.WantA, c.Reason
		if want < c.Cfg.MinA && st.on && p.Now.Sub(st.since) < cfg.MinOn && why != ReasonOverride {
			want, why = c.Cfg.MinA, ReasonMinOn // not stopped just after starting
		}
		if want < c.Cfg.MinA {
			c.SetA, c.SetWhy = 0, why
			continue
		}
		if !st.on && !st.since.IsZero() && p.Now.Sub(st.since) < cfg.MinOff {
			c.SetA, c.SetWhy = 0, ReasonMinOff
			continue
		}
		extra := 0.0
		if !st.on {
			extra = cfg.HysteresisW
		}
		if !fits(c, c.Cfg.MinA, extra) {
			// Just after a session was raised (or started) the meter already
			// sees the car take more while the charger's own report, sent
			// every second or more, still shows the old draw: the office's
			// load looks higher by the raise and the minimum seems not to
			// fit. Stopping the car for min_off on that is the churn chargers
			// and cars dislike, so for pause_after it is held at its minimum
			// (a decrease all the same) instead; a shortfall that outlasts
			// the report lag pauses it. Its minimum stays counted, so nobody
			// else gets more meanwhile.
			if !st.on || p.Now.Sub(st.raised) >= cfg.PauseAfter {
				c.SetA, c.SetWhy = 0, ReasonPaused
				if !st.on {
					c.SetWhy = ReasonHysteresis
				}
				continue
			}
			take(c, c.Cfg.MinA) // held, not admitted: it gets nothing more
			c.SetA, c.SetWhy = c.Cfg.MinA, ReasonShort
			continue
		}
		take(c, c.Cfg.MinA)
		c.SetA, c.SetWhy = c.Cfg.MinA, why
		c.WantA = want
		admitted = append(admitted, c)
	}

	g.waterFill(admitted, &remW, &remA, V)

	for _, c := range admitted {
		if c.SetWhy == "" {
			c.SetWhy = ReasonOK
		}
		st := g.conns[c.Key]
		// Increases ramp; a start goes straight to the minimum.
		from := math.Max(st.setA, c.Cfg.MinA)
		if ceil := from + cfg.RampAPerS*dt.Seconds(); c.SetA > ceil {
			c.SetA, c.SetWhy = ceil, ReasonRamp
		}
		c.SetA = math.Floor(c.SetA*10) / 10
	}
	for _, c := range p.Conns {
		g.record(c, p.Now)
	}
}

// waterFill raises every admitted session equally until each has what it
// wants or the total or a phase runs out.
func (g *Guard) waterFill(cs []*Conn, remW *float64, remA *[3]float64, V float64) {
	open := append([]*Conn(nil), cs...)
	for len(open) > 0 {
		var costW float64
		var perPhase [3]float64
		step := math.Inf(1)
		for _, c := range open {
			costW += V * float64(c.Phases)
			for i, on := range c.phaseMask() {
				if on {
					perPhase[i]++
				}
			}
			step = math.Min(step, c.WantA-c.SetA)
		}
		binding := ""
		if s := *remW / costW; s < step {
			step, binding = s, ReasonHeadroom
		}
		for i := range perPhase {
			if perPhase[i] > 0 {
				if s := remA[i] / perPhase[i]; s < step {
					step, binding = s, ReasonFuse
				}
			}
		}
		step = math.Max(step, 0)
		for _, c := range open {
			c.SetA += step
			*remW -= step * V * float64(c.Phases)
			for i, on := range c.phaseMask() {
				if on {
					remA[i] -= step
				}
			}
		}
		if binding != "" {
			for _, c := range open {
				if c.SetA < c.WantA-1e-6 {
					c.SetWhy = binding
				}
			}
			// The binding constraint is shared: nobody can grow further
			// without someone else shrinking. A fuse binds only its phase,
			// so sessions on other phases may still grow.
			if binding == ReasonHeadroom {
				return
			}
			var next []*Conn
			for _, c := range open {
				blocked := false
				for i, on := range c.phaseMask() {
					if on && remA[i] <= 1e-9 {
						blocked = true
					}
				}
				if !blocked && c.SetA < c.WantA-1e-6 {
					next = append(next, c)
				}
			}
			open = next
			continue
		}
		var next []*Conn
		for _, c := range open {
			if c.SetA < c.WantA-1e-6 {
				next = append(next, c)
			}
		}
		open = next
	}
}

func (g *Guard) record(c *Conn, now time.Time) {
	st := g.conns[c.Key]
	on := c.SetA > 0
	if on != st.on || st.since.IsZero() && on {
		st.on, st.since = on, now
	}
	if c.SetA > st.setA {
		st.raised = now
	}
	st.setA = c.SetA
}

// failsafeAllocate: the meter is blind. Sessions get the safe limit by
// priority while they fit under the available power less the recent peak
// office load; the rest pause. Without any reading yet, only the safe
// limit applies (the installer sized it for that).
func (g *Guard) failsafeAllocate(cfg *Config, p *Plan) {
	order := append([]*Conn(nil), p.Conns...)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].Priority != order[j].Priority {
			return order[i].Priority > order[j].Priority
		}
		return order[i].Start.Before(order[j].Start)
	})
	budget := math.Inf(1)
	if g.haveMeter {
		budget = p.AvailableW - math.Max(g.peakBase, 0)
	}
	for _, c := range order {
		a := math.Min(cfg.SafeLimitA, c.WantA)
		if a < c.Cfg.MinA {
			a = 0
		}
		w := a * cfg.VoltageV * float64(c.Phases)
		if w > budget {
			a, w = 0, 0
		}
		budget -= w
		c.SetA, c.SetWhy = a, ReasonFailsafe
		g.record(c, p.Now)
	}
}
