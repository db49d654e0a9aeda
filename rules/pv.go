package rules

import (
	"math"
	"time"
)

// PVModes applies each non-fleet session's mode: off, now, minpv (6 A plus
// surplus), pv (surplus only, with start and stop delays). Surplus is what
// the office would export if these sessions drew nothing. A charger that
// can switch phases goes 3p→1p when the surplus is under the three-phase
// minimum but covers the single-phase one.
type PVModes struct {
	st map[string]*pvState
}

type pvState struct {
	charging   bool
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
		if c.Reason == ReasonOverride || c.Reason == ReasonVanPlan || c.Group == FleetGroup {
			otherW += c.DrawW
			continue
		}
		switch c.Mode {
		case ModeOff:
			c.Want(0, ReasonMode)
		case ModePV, ModeMinPV:
			solar = append(solar, c)
		default:
			otherW += c.DrawW
		}
	}
	for k := range m.st {
		if !live[k] {
			delete(m.st, k)
		}
	}
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
	share := math.Max(surplus, 0) / float64(len(solar))
	V := cfg.VoltageV
	for _, c := range solar {
		st := m.st[c.Key]
		if st == nil {
			st = &pvState{}
			m.st[c.Key] = st
		}
		m.phases(cfg, c, st, share, p.Now)
		amps := share / (V * float64(c.Phases))
		minA := c.Cfg.MinA
		if amps >= minA {
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
			c.Want(math.Max(minA, amps), ReasonPVSurplus)
			continue
		}
		switch {
		case !st.charging && amps >= minA && p.Now.Sub(st.enough) >= cfg.StartDelay:
			st.charging = true
		case st.charging && amps < minA && p.Now.Sub(st.short) >= cfg.StopDelay:
			st.charging = false
		}
		if !st.charging {
			c.Want(0, ReasonPVSurplus)
			continue
		}
		c.Want(math.Max(minA, amps), ReasonPVSurplus) // within the stop delay: hold the minimum
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
