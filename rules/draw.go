package rules

import (
	"math"
	"time"

	"github.com/polis-edge/polis/rules/image"
)

// draws estimates what each car draws now. A charger reports its draw
// every meter_sample_interval (10 s by default, up to a minute on some),
// the grid meter every second: between two reports the office's own load,
// grid − Σ draws, is wrong by whatever the cars changed since. After a
// cut the report is stale-high; after a raise it is stale-low, which reads
// as the office's load rising, cuts the cars again and oscillates (the
// replay with 10 s reports: 9 500 s above the available power a day).
// So a car is assumed to draw what its confirmed limit allows: never more
// than the limit, and up to the limit once it was raised after the report,
// unless the car showed it takes less (its own cap: full, cold battery,
// a 16 A car on a 32 A limit).
type draws struct {
	m map[string]*report
}

type report struct {
	tx      string
	at      time.Time // of the last report seen
	limitA  float64   // the confirmed limit when it arrived; 0 unknown or none
	capA    float64   // what the car takes at most, learned; +Inf unknown
	drawing [3]bool   // the phases it drew on
}

func newDraws() *draws { return &draws{m: map[string]*report{}} }

// estimate sets c.DrawA and c.DrawW from the charger's report ch and the
// limit the charger confirmed (ok false: none known).
func (d *draws) estimate(cfg *Config, c *Conn, ch image.Charger, lim float64, ok bool) {
	c.DrawA = ch.CurrentA
	if c.DrawA == ([3]float64{}) && ch.PowerW > 0 {
		for i, on := range c.phaseMask() {
			if on {
				c.DrawA[i] = ch.PowerW / cfg.VoltageV / float64(c.Phases)
			}
		}
	}
	r := d.m[c.Key]
	if r == nil || r.tx != ch.TransactionID {
		r = &report{tx: ch.TransactionID, capA: math.Inf(1)}
		d.m[c.Key] = r
	}
	top := maxOf(c.DrawA)
	if ch.MeterAt.After(r.at) {
		// A fresh report: a car drawing well under its limit is capped by
		// itself; one drawing its limit may take more.
		switch {
		case ok && top > 1 && top < lim-1:
			r.capA = top + 0.5
		case ok && top >= lim-1:
			r.capA = math.Inf(1)
		}
		r.at, r.limitA = ch.MeterAt, lim
		for i, a := range c.DrawA {
			r.drawing[i] = a > 1
		}
	}
	if !ok {
		c.DrawW = drawW(cfg, c, ch)
		return
	}
	// Charging, or paused by the charger (our limit was 0): raised, it
	// draws. A car that suspended itself (full, its own timer) does not.
	resumes := ch.Status == "Charging" || ch.Status == "SuspendedEVSE"
	follows := lim > r.limitA+0.05 && resumes && lim >= c.Cfg.MinA
	for i := range c.DrawA {
		c.DrawA[i] = math.Min(c.DrawA[i], lim) // the car cannot exceed a confirmed limit
		if follows && (r.drawing[i] || (top <= 1 && c.phaseMask()[i])) {
			c.DrawA[i] = math.Max(c.DrawA[i], math.Min(lim, r.capA)) // raised since the report
		}
	}
	c.DrawW = (c.DrawA[0] + c.DrawA[1] + c.DrawA[2]) * cfg.VoltageV
}

// sweep forgets sessions that ended.
func (d *draws) sweep(live map[string]bool) {
	for k := range d.m {
		if !live[k] {
			delete(d.m, k)
		}
	}
}

func drawW(cfg *Config, c *Conn, ch image.Charger) float64 {
	if ch.PowerW > 0 {
		return ch.PowerW
	}
	return (c.DrawA[0] + c.DrawA[1] + c.DrawA[2]) * cfg.VoltageV
}

func maxOf(a [3]float64) float64 { return math.Max(a[0], math.Max(a[1], a[2])) }
