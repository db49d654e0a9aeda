package rules

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/tariff"
)

// FleetGroup is the idTag group of the office's delivery vans.
const FleetGroup = "fleet"

// vanDefaultKWh is the need assumed when neither SoC nor a configured
// energy is known: a day of rounds for a small electric van.
const vanDefaultKWh = 20

// planEfficiency: the plan counts on this share of the van's maximum power,
// so a van is ready even when the office's own load eats some headroom.
const planEfficiency = 0.8

// slot is the planning resolution.
const slot = 15 * time.Minute

// Vans plans every fleet session to be full at departure: PV first (any
// surplus is taken at once), then the cheapest F-bands, but always ready on
// time when the supply makes it possible. When it does not, it says so
// early with a shortfall event.
type Vans struct {
	st map[string]*vanState
}

type vanState struct {
	warned   bool
	shortKWh float64
}

func newVans() *Vans { return &Vans{st: map[string]*vanState{}} }

// VanPlan is one van's plan as the API shows it.
type VanPlan struct {
	Departure    time.Time `json:"departure"`
	NeedKWh      float64   `json:"need_kwh"`
	ShortfallKWh float64   `json:"shortfall_kwh"`
	ChargeNow    bool      `json:"charge_now"`
}

// Run marks fleet sessions: charge now (with priority) or wait for PV or a
// cheaper band (want lowered to the PV surplus).
func (v *Vans) Run(cfg *Config, p *Plan) {
	live := map[string]bool{}
	grp := cfg.Groups[FleetGroup]
	for _, c := range p.Conns {
		if c.Group != FleetGroup {
			continue
		}
		live[c.Key] = true
		st := v.st[c.Key]
		if st == nil {
			st = &vanState{}
			v.st[c.Key] = st
		}
		van := cfg.Vans[c.IDTag]
		dep, ok := departure(firstNonEmpty(van.Departure, c.Departure, grp.Departure), p.Now)
		if !ok {
			continue // no departure known: the van charges as fast as the guard allows
		}
		need := v.need(c, van, grp)
		maxW := c.Cfg.MaxA * cfg.VoltageV * float64(c.Phases)
		// What the supply leaves for this van at best, from the guard's
		// current budget: a forecast, re-made every cycle.
		feasibleW := math.Min(maxW, math.Max(p.BudgetW, 0)) * planEfficiency
		left := dep.Sub(p.Now)
		possible := feasibleW * left.Hours() / 1000
		short := need - possible
		if short > 0.5 && !st.warned {
			st.warned, st.shortKWh = true, short
			p.event("van_shortfall_forecast", sample.SeverityWarning,
				fmt.Sprintf("van on %s will be %.1f kWh short at %s", c.Key, short, dep.In(tariff.Rome).Format("Mon 15:04")),
				map[string]any{"charger": c.ChargerID, "connector": int64(c.Connector), "shortfall_kwh": round1(short),
					"need_kwh": round1(need), "departure": dep.Format(time.RFC3339)})
		}
		c.Priority += 100 // vans before public sessions whenever both cannot fit
		if short > 0 || chargeNow(cfg, p.Now, dep, need, maxW*planEfficiency) {
			continue // now, at whatever the guard allows
		}
		// Not needed now: take only the PV surplus (0 without one).
		surplus := -(p.BaseW + otherDraw(p, c))
		if !p.MeterOK {
			surplus = 0
		}
		c.Want(math.Max(surplus, 0)/(cfg.VoltageV*float64(c.Phases)), ReasonVanPlan)
	}
	for k := range v.st {
		if !live[k] {
			delete(v.st, k)
		}
	}
}

func otherDraw(p *Plan, self *Conn) float64 {
	w := 0.0
	for _, c := range p.Conns {
		if c != self && c.Controlled {
			w += c.DrawW
		}
	}
	return w
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// need is the energy still to deliver (kWh).
func (v *Vans) need(c *Conn, van VanConfig, grp GroupConfig) float64 {
	if c.SoCPct >= 0 && van.CapacityKWh > 0 {
		return math.Max(0, (100-c.SoCPct)/100*van.CapacityKWh)
	}
	e := van.EnergyKWh
	if e == 0 {
		e = grp.EnergyKWh
	}
	if e == 0 {
		e = vanDefaultKWh
	}
	return math.Max(0, e-c.SessionWh/1000)
}

// chargeNow: fill the need with the cheapest slots between now and the
// departure at the planned power; charge now when the current slot is one
// of them. Ties go to the earlier slot: energy in the van early is safer.
func chargeNow(cfg *Config, now, dep time.Time, needKWh, powerW float64) bool {
	if needKWh <= 0 || powerW <= 0 {
		return false
	}
	prices := tariff.Price{F1: cfg.Prices.F1, F2: cfg.Prices.F2, F3: cfg.Prices.F3}
	type s struct {
		start time.Time
		price float64
		kwh   float64
	}
	var slots []s
	for t := now; t.Before(dep); t = t.Add(slot) {
		end := t.Add(slot)
		if end.After(dep) {
			end = dep
		}
		slots = append(slots, s{t, prices.Of(tariff.At(t)), powerW * end.Sub(t).Hours() / 1000})
	}
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].price < slots[j].price })
	for _, sl := range slots {
		if sl.start.Equal(now) {
			return true
		}
		needKWh -= sl.kwh
		if needKWh <= 0 {
			return false
		}
	}
	return true
}

// departure is the next HH:MM on a working day after now, in Italy.
func departure(hhmm string, now time.Time) (time.Time, bool) {
	if hhmm == "" {
		return time.Time{}, false
	}
	m, err := parseHHMM(hhmm)
	if err != nil {
		return time.Time{}, false
	}
	local := now.In(tariff.Rome)
	for d := 0; d < 8; d++ {
		day := local.AddDate(0, 0, d)
		t := time.Date(day.Year(), day.Month(), day.Day(), m/60, m%60, 0, 0, tariff.Rome)
		if t.After(now) && tariff.WorkingDay(t) {
			return t, true
		}
	}
	return time.Time{}, false
}
