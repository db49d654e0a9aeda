package rules

import (
	"math"
	"sort"
	"time"
)

// PVModes applies each non-fleet session's mode: off, now, minpv (6 A plus
// surplus), pv (surplus only, with start and stop delays). Surplus is what
// the office would export if these sessions drew nothing. A charger that
// can switch phases goes 3p→1p when the surplus is under the three-phase
// minimum but covers the single-phase one.
type PVModes struct {
	st map[string]*pvState
	// A drop in what the other sessions draw (a car leaving, or full)
	// hands its power to a waiting solar session at once: that surplus is
	// not a gap in the clouds but PV that was already being used, so
	// pv_start_delay has nothing to confirm.
	otherW  float64
	freedW  float64
	freedAt time.Time
}

// handoverWindow is how long freed power stays handed over: a few cycles,
// so a meter that reads a cycle late still sees the surplus.
const handoverWindow = 10 * time.Second

type pvState struct {
	charging   bool
	solar      bool      // was in pv or minpv mode last cycle
	enough     time.Time // surplus >= minimum since
	short      time.Time // surplus < minimum since
	onePhase   bool
	switchedAt time.Time
}

func newPVModes() *PVModes { return &PVModes{st: map[string]*pvState{}} }

// Run lowers what pv, minpv and off sessions want.
func (m *PVModes) Run(cfg *Config, p *Plan) {
	var solar []*Conn
	otherW := 0.0
	live := map[string]bool{}
	for _, c := range p.Conns {
		live[c.Key] = true
		if c.Reason == ReasonOverride {
			otherW += c.DrawW
			continue
		}
		switch c.Mode {
		case ModeOff:
			c.Want(0, ReasonMode)
		case ModePV, ModeMinPV:
			solar = append(solar, c)
			continue
		default:
			otherW += c.DrawW
		}
		if st := m.st[c.Key]; st != nil {
			st.solar = false
		}
	}
	for k := range m.st {
		if !live[k] {
			delete(m.st, k)
		}
	}
	if drop := m.otherW - otherW; drop >= cfg.VoltageV*minOfMinA(p.Conns) {
		m.freedW, m.freedAt = drop, p.Now
	}
	m.otherW = otherW
	if len(solar) == 0 {
		return
	}
	// What would go to the grid with the solar sessions off.
	var solarDraw float64
	for _, c := range solar {
		solarDraw += c.DrawW
	}
	surplus := -(p.BaseW + otherW)
	if !p.MeterOK {
		surplus = 0 // no meter, no surplus: the guard's fail-safe decides
	}
	shares := shareSurplus(cfg, solar, math.Max(surplus, 0))
	V := cfg.VoltageV
	for _, c := range solar {
		why := ReasonPVSurplus
		if c.Group == FleetGroup {
			why = ReasonVanPlan // waiting for a cheaper band, taking the sun meanwhile
		}
		st := m.st[c.Key]
		if st == nil {
			st = &pvState{}
			m.st[c.Key] = st
		}
		if !st.solar {
			// A van whose plan just moved from now to the sun goes on
			// charging under the pv rules (stop share, pv_stop_delay)
			// instead of stopping to wait out pv_start_delay: each flip of
			// the plan cost a stop and a start (46 a summer workday in the
			// replay, 34 with this). An operator's switch to pv keeps the
			// guard's min_on semantics: it stops when there is no sun.
			st.solar, st.charging = true, c.pvStart > 0 && maxOf(c.DrawA) > 1
			st.enough, st.short = time.Time{}, time.Time{}
		}
		share := shares[c]
		m.phases(cfg, c, st, share, p.Now)
		amps := share / (V * float64(c.Phases))
		minA := c.Cfg.MinA
		need := minA * startShare(c)
		if st.charging && c.pvStart > 0 {
			need *= vanStopShare // a van's stop threshold sits below its start
		}
		if amps >= need {
			st.short = time.Time{}
			if st.enough.IsZero() {
				st.enough = p.Now
			}
		} else {
			st.enough = time.Time{}
			if st.short.IsZero() {
				st.short = p.Now
			}
		}
		if c.Mode == ModeMinPV {
			c.Want(math.Max(minA, amps), why)
			continue
		}
		handedOver := p.Now.Sub(m.freedAt) <= handoverWindow && need*V*float64(c.Phases) <= m.freedW
		switch {
		case !st.charging && !st.enough.IsZero() && (handedOver || p.Now.Sub(st.enough) >= cfg.StartDelay):
			st.charging = true
		case st.charging && !st.short.IsZero() && p.Now.Sub(st.short) >= cfg.StopDelay:
			st.charging = false
		}
		if !st.charging {
			c.Want(0, why)
			continue
		}
		c.Want(math.Max(minA, amps), why) // within the stop delay: hold the minimum
	}
}

// phases switches a phase-switching charger to one phase when the surplus
// covers the single-phase minimum but not the three-phase one, and back
// when it covers three phases with margin; never faster than start_delay.
func (m *PVModes) phases(cfg *Config, c *Conn, st *pvState, share float64, now time.Time) {
	if !c.Cfg.PhaseSwitch || c.Cfg.Phases != 3 {
		return
	}
	V := cfg.VoltageV
	min3, min1 := 3*V*c.Cfg.MinA, V*c.Cfg.MinA
	want1 := st.onePhase
	switch {
	case !st.onePhase && share < min3 && share >= min1:
		want1 = true
	case st.onePhase && share >= min3+cfg.HysteresisW:
		want1 = false
	}
	if want1 != st.onePhase && (st.switchedAt.IsZero() || now.Sub(st.switchedAt) >= cfg.StartDelay) {
		st.onePhase, st.switchedAt = want1, now
	}
	if st.onePhase {
		c.Phases, c.Phase = 1, c.Cfg.SinglePhaseL
	}
}

// minOfMinA is the smallest minimum current of the sessions: a drop in
// the others' draw smaller than one phase at it cannot start anyone.
func minOfMinA(conns []*Conn) float64 {
	least := math.Inf(1)
	for _, c := range conns {
		least = math.Min(least, c.Cfg.MinA)
	}
	return least
}

func startShare(c *Conn) float64 {
	if c.pvStart > 0 {
		return c.pvStart
	}
	return 1
}

// shareSurplus splits the surplus: equally when every session's minimum is
// covered, else in priority order (vans first, then the older session), so
// a surplus that fits one car is not split into two that fit none.
func shareSurplus(cfg *Config, solar []*Conn, surplus float64) map[*Conn]float64 {
	out := map[*Conn]float64{}
	order := append([]*Conn(nil), solar...)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].Priority != order[j].Priority {
			return order[i].Priority > order[j].Priority
		}
		return order[i].Start.Before(order[j].Start)
	})
	n, need := 0, 0.0
	for _, c := range order {
		minW := c.Cfg.MinA * cfg.VoltageV * float64(c.Phases) * startShare(c)
		if need+minW > surplus && n > 0 {
			break
		}
		need += minW
		n++
	}
	for i, c := range order {
		if i < n {
			out[c] = surplus / float64(n)
		}
	}
	return out
}
