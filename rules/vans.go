package rules

import (
	"fmt"
	"math"
	"sort"
	"strconv"
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
	warned  bool
	planKey string // the plan is redone when its inputs change
	planNow bool
	share   float64
}

func newVans() *Vans { return &Vans{st: map[string]*vanState{}} }

// VanPlan is one van's plan as the API shows it.
type VanPlan struct {
	Departure    time.Time `json:"departure"`
	NeedKWh      float64   `json:"need_kwh"`
	ShortfallKWh float64   `json:"shortfall_kwh"`
	ChargeNow    bool      `json:"charge_now"`
}

// Run sets each fleet session's mode for this cycle: now (with priority)
// when the plan says so, else pv, so a waiting van still takes the surplus.
func (v *Vans) Run(cfg *Config, p *Plan) {
	live := map[string]bool{}
	grp := cfg.Groups[FleetGroup]
	vans := 0
	for _, c := range p.Conns {
		if c.Group == FleetGroup {
			vans++
		}
	}
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
		// current budget shared by the vans: a forecast, re-made every cycle.
		feasibleW := math.Min(maxW, math.Max(p.BudgetW, 0)/float64(vans)) * planEfficiency
		left := dep.Sub(p.Now)
		possible := feasibleW * left.Hours() / 1000
		short := need - possible
		if short > 0.5 && !st.warned {
			st.warned = true
			p.event("van_shortfall_forecast", c.Key, sample.SeverityWarning,
				fmt.Sprintf("van on %s will be %.1f kWh short at %s", c.Key, short, dep.In(tariff.Rome).Format("Mon 15:04")),
				map[string]any{"charger": c.ChargerID, "shortfall_kwh": round1(short),
					"need_kwh": round1(need), "departure": dep.Format(time.RFC3339)})
			// The connector is a tag, as on the OCPP events (schema v2).
			p.Events[len(p.Events)-1].Tags["connector"] = strconv.Itoa(c.Connector)
		}
		c.Priority += 100 // vans before public sessions whenever both cannot fit
		// Plans change slowly: redo one when a minute passed or the need,
		// the power or the departure moved.
		if key := fmt.Sprintf("%d|%d|%.1f|%.0f", p.Now.Unix()/60, dep.Unix(), need, feasibleW/100); key != st.planKey {
			st.planKey, st.planNow = key, chargeNow(cfg, p.Now, dep, need, feasibleW)
			st.share = pvStartShare(cfg, p.Now, dep)
		}
		if short > 0 || st.planNow {
			c.Mode = ModeNow // at whatever the guard allows
			continue
		}
		// Not needed now: PV surplus only, with the pv mode's start and
		// stop delays (the PV controller runs next). It starts on a
		// surplus covering only part of its minimum when buying the rest
		// now costs less than buying it all later: exported PV is not paid.
		c.Mode = ModePV
		c.pvStart = st.share
	}
	for k := range v.st {
		if !live[k] {
			delete(v.st, k)
		}
	}
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// pvStartShare is the share of its minimum power the PV surplus must
// cover to start a waiting van. At the break-even share b, where (1−b)·price
// now equals the cheapest price before departure, starting costs no more
// than waiting; van_pv_bias lowers it towards any surplus, trading a little
// money for PV that would otherwise be exported unpaid. Never below a tenth
// of the minimum: 400 W does not justify a 4 kW start.
func pvStartShare(cfg *Config, now, dep time.Time) float64 {
	prices := tariff.Price{F1: cfg.Prices.F1, F2: cfg.Prices.F2, F3: cfg.Prices.F3}
	cur := prices.Of(tariff.At(now))
	if cur <= 0 {
		return 0.5
	}
	cheapest := cur
	for t := now; t.Before(dep); t = t.Add(slot) {
		cheapest = math.Min(cheapest, prices.Of(tariff.At(t)))
	}
	breakEven := 1 - cheapest/cur
	return math.Min(1, math.Max(minVanStartShare, (1-cfg.VanPVBiasOrDefault())*breakEven))
}

const minVanStartShare = 0.1

// vanStopShare: a van started on PV stops only when the surplus falls
// under this part of its start share (for pv_stop_delay), as evcc's
// separate enable and disable thresholds do. A twentieth (about 40 W on a
// three-phase van at the default bias) means: until the sun has nothing
// left to give. A passing cloud then costs a few minutes at the minimum
// instead of a stop and a pv_start_delay of exported sun when it passes,
// and an evening sun is followed down instead of exported for its last
// minutes. At a half (the first choice) the replay's winter workday
// exported 7 Wh more than evcc-like's and started the vans three more
// times; the price is the F1–F3 spread on the minimum's grid part while a
// cloud lasts (at most 0.09 € a day on cloudy summer days in the replay).
const vanStopShare = 0.05

// expectedPVW is a cautious guess of the PV a slot brings: half the
// installed peak times the sun's height over the horizon (clear sky, Italy),
// so early morning and evening slots count a little and midday most. It
// only orders the slots (free energy first); the plan is redone every
// cycle, so a cloudy day moves the charging to the next cheapest slots.
func expectedPVW(cfg *Config, t time.Time) float64 {
	if cfg.PVPeakW <= 0 {
		return 0
	}
	return pvCaution * cfg.PVPeakW * math.Max(0, sunHeight(t))
}

// pvCaution is the share of clear-sky PV the plan counts on: clouds,
// orientation and the office's own load take the rest.
const pvCaution = 0.5

// Italy's middle, for the sun's path: 36–47 °N moves sunrise by minutes,
// which the per-cycle re-plan absorbs.
const siteLatDeg, siteLonDeg = 42.0, 12.5

// sunHeight is the sine of the sun's elevation at t (negative at night):
// declination by day of year, hour angle by solar time (UTC + longitude).
func sunHeight(t time.Time) float64 {
	u := t.UTC()
	rad := math.Pi / 180
	decl := 23.44 * rad * math.Sin(2*math.Pi*float64(284+u.YearDay())/365)
	solarH := float64(u.Hour()) + float64(u.Minute())/60 + siteLonDeg/15
	hourAngle := 15 * rad * (solarH - 12)
	lat := siteLatDeg * rad
	return math.Sin(lat)*math.Sin(decl) + math.Cos(lat)*math.Cos(decl)*math.Cos(hourAngle)
}

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

// chargeNow: fill the need with the cheapest energy between now and the
// departure. Each slot offers the PV it is expected to bring (free: export
// is not paid) and grid energy up to the planned power at its band's price.
// Charge now at full power when the current slot's grid energy is among the
// cheapest needed; otherwise the van takes only the PV surplus. Ties go to
// the earlier slot: energy in the van early is safer.
func chargeNow(cfg *Config, now, dep time.Time, needKWh, powerW float64) bool {
	if needKWh <= 0 || powerW <= 0 {
		return false
	}
	prices := tariff.Price{F1: cfg.Prices.F1, F2: cfg.Prices.F2, F3: cfg.Prices.F3}
	type s struct {
		start time.Time
		price float64
		kwh   float64
		grid  bool
	}
	var slots []s
	for t := now; t.Before(dep); t = t.Add(slot) {
		end := t.Add(slot)
		if end.After(dep) {
			end = dep
		}
		h := end.Sub(t).Hours()
		pv := math.Min(expectedPVW(cfg, t), powerW)
		if pv > 0 {
			slots = append(slots, s{t, 0, pv * h / 1000, false})
		}
		slots = append(slots, s{t, prices.Of(tariff.At(t)), (powerW - pv) * h / 1000, true})
	}
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].price < slots[j].price })
	for _, sl := range slots {
		if sl.grid && sl.start.Equal(now) {
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
