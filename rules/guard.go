package rules

import (
	"fmt"
	"math"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/image"
)

// Guard keeps grid import under the available power. It runs in two halves:
// Budget first in the chain (what the chargers may draw together, fail-safe
// on a stale meter) and Allocate last among the charger controllers (share
// the budget across every session at once, by priority, with the 6 A
// minimum, per-phase fuses, ramps and minimum on/off times).
type Guard struct {
	meterW    float64   // last trusted reading
	baseW     float64   // the reading less the chargers' draw at the time
	meterAt   time.Time // its measurement time
	seenAt    time.Time // the last reading looked at, good or not
	haveMeter bool
	failsafe  bool
	lastCycle time.Time
	started   time.Time
	peakBase  float64 // recent peak office load (notePeak)
	peakAt    time.Time
	recent    []baseAt // base estimates of the last steadyWindow
	conns     map[string]*connState
	Nonsense  uint64 // readings refused as physically impossible
}

type connState struct {
	tx     string
	setA   float64
	on     bool
	since  time.Time // of the last on/off transition
	raised time.Time // when its limit was last raised (or it started)
}

func newGuard() *Guard { return &Guard{conns: map[string]*connState{}} }

// Budget validates the meter reading and computes what the chargers may draw.
func (g *Guard) Budget(cfg *Config, p *Plan, snap *image.Snapshot) {
	p.AvailableW = cfg.AvailableW()
	var drawW float64
	var drawA [3]float64
	for _, c := range p.Conns {
		if !c.Controlled {
			continue
		}
		drawW += c.DrawW
		for i := range drawA {
			drawA[i] += c.DrawA[i]
		}
	}
	w, at, ok := snap.Float("grid", cfg.GridMeter, "power_w")
	if ok && at.After(g.seenAt) {
		g.seenAt = at
		switch {
		case at.After(p.Now.Add(image.FutureTolerance)):
			p.Errors++ // the image refuses these; belt and braces
		case g.nonsense(cfg, w):
			g.Nonsense++
			p.Errors++
		default:
			// The office's own load is the reading less what the chargers
			// drew when it was taken: with a meter slower than the chargers
			// the budget stays consistent instead of counting a ramp twice.
			g.meterW, g.meterAt, g.haveMeter = w, at, true
			g.baseW = w - drawW
			g.notePeak(g.steadyBase(g.baseW, at), at)
		}
	}
	if g.started.IsZero() {
		g.started = p.Now
	}
	since := g.meterAt
	if !g.haveMeter {
		since = g.started // a meter gets meter_stale_after to send its first reading
	}
	stale := p.Now.Sub(since) > cfg.MeterStaleAfter
	p.MeterOK, p.ImportW = !stale, g.meterW
	switch {
	case stale && !g.failsafe:
		g.failsafe = true
		age := "never read"
		if g.haveMeter {
			age = p.Now.Sub(g.meterAt).Round(time.Second).String()
		}
		p.event("failsafe_entered", "", sample.SeverityCritical,
			fmt.Sprintf("grid meter %q stale (%s): every charger at the safe limit of %.0f A", cfg.GridMeter, age, cfg.SafeLimitA),
			map[string]any{"safe_limit_a": cfg.SafeLimitA})
	case !stale && g.failsafe:
		g.failsafe = false
		p.event("failsafe_left", "", sample.SeverityInfo, fmt.Sprintf("grid meter %q reads again", cfg.GridMeter), nil)
	}
	p.Failsafe = g.failsafe

	p.BaseW = g.baseW
	p.BudgetW = p.AvailableW - g.baseW
	for i := range p.BudgetA {
		p.BudgetA[i] = math.Inf(1)
		if cfg.FuseA > 0 && !math.IsNaN(p.PhaseA[i]) {
			p.BudgetA[i] = cfg.FuseA - (p.PhaseA[i] - drawA[i])
		}
	}
}

// nonsense: a reading no office can produce. Export beyond the installed PV,
// or a step larger than max_jump_w, means a garbled register, not a fact.
func (g *Guard) nonsense(cfg *Config, w float64) bool {
	if math.IsNaN(w) || math.IsInf(w, 0) || math.Abs(w) > cfg.MaxJumpW {
		return true
	}
	if cfg.PVPeakW > 0 && w < -(cfg.PVPeakW*1.1+500) {
		return true
	}
	return g.haveMeter && math.Abs(w-g.meterW) > cfg.MaxJumpW
}

// peakDecayWPerS: the remembered peak office load decays by 1 kW per 10
// minutes, so fail-safe budgets with a recent peak rather than a stale one.
const peakDecayWPerS = 1000.0 / 600

// notePeak tracks the highest recent office load, the fail-safe's estimate
// of what the office may draw while the meter is blind.
func (g *Guard) notePeak(base float64, at time.Time) {
	if !g.peakAt.IsZero() && at.After(g.peakAt) {
		g.peakBase -= at.Sub(g.peakAt).Seconds() * peakDecayWPerS
	}
	g.peakAt = at
	if base > g.peakBase {
		g.peakBase = base
	}
}

// steadyWindow: the base load estimate mixes a meter reading with charger
// readings taken at other moments, so a car's ramp can look like office load
// for a second or two. The fail-safe's peak only counts load that lasted.
const steadyWindow = 10 * time.Second

type baseAt struct {
	w  float64
	at time.Time
}

// steadyBase is the lowest base estimate of the last steadyWindow.
func (g *Guard) steadyBase(w float64, at time.Time) float64 {
	g.recent = append(g.recent, baseAt{w, at})
	for len(g.recent) > 0 && at.Sub(g.recent[0].at) > steadyWindow {
		g.recent = g.recent[1:]
	}
	m := w
	for _, b := range g.recent {
		m = math.Min(m, b.w)
	}
	return m
}

// InFailsafe reports the fail-safe state after the last cycle.
func (g *Guard) InFailsafe() bool { return g.failsafe }
