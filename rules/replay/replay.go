package replay

import (
	"math"
	"sort"
	"time"

	"github.com/polis-edge/polis/rules/tariff"
)

// V is the phase voltage of the model.
const V = 230

// ReactionDelay is how long a charger takes to apply a new limit.
const ReactionDelay = 2 * time.Second

// Window is the reaction window after a disturbance (a load step, a car
// arriving): two 1 s cycles plus the charger's reaction delay. Seconds
// above the available power inside it are counted apart.
const Window = 2*time.Second + ReactionDelay

// StepW is what counts as a step: a change of load or PV larger than the
// rules' margin (margin_w, 200 W), which absorbs anything smaller.
const StepW = 200

// ConnView is a connector as a strategy sees it.
type ConnView struct {
	ID         string
	MaxA       float64
	Plugged    bool
	Tag        string
	Van        bool
	Arrive     time.Time
	Departure  time.Time
	DrawA      [3]float64
	PowerW     float64
	SoCPct     float64 // -1 unknown
	SessionWh  float64
	LimitA     float64   // in force
	Suspended  bool      // the car is full
	ReportedAt time.Time // of DrawA and PowerW
}

// View is the office as measured at one second.
type View struct {
	GridW   float64 // last meter reading
	MeterAt time.Time
	PVW     float64
	Conns   []ConnView
}

// Strategy decides charger limits. Limits returns the connectors whose
// limit changes (amps per phase, 0 pauses); nil changes nothing.
type Strategy interface {
	Name() string
	Limits(t time.Time, v View) map[string]float64
}

// KPI is one strategy's result on one day.
type KPI struct {
	Day, Strategy      string
	SecondsAbove       int     // grid import over the available power
	SecondsAboveBeyond int     // of which outside the reaction window
	WorstOvershootKW   float64 // over the available power
	VanShortKWh        float64 // energy missing at van departures
	PVSelfPct          float64 // PV used on site
	EVFromPVPct        float64 // share of EV energy that came from PV
	CostEUR            float64 // import × band price (export not paid)
	Starts             int     // charging starts (0 → > 0 A), all cars
	EVKWh, ImportKWh   float64
	PVKWh, ExportKWh   float64
}

type conn struct {
	ch      Charger
	repA    float64 // what the charger last reported (MeterValues)
	repAt   time.Time
	car     *Car
	gotWh   float64
	limitA  float64
	pending []pendingLimit
	drawA   float64
	drawing bool
}

type pendingLimit struct {
	at time.Time
	a  float64
}

// DefaultLimiter is a strategy that installs a default profile on the
// chargers: a new session starts at that limit, not at the charger's
// maximum (ours: the safe limit).
type DefaultLimiter interface{ DefaultLimit() float64 }

func defaultLimit(s Strategy, max float64) float64 {
	if d, ok := s.(DefaultLimiter); ok {
		return d.DefaultLimit()
	}
	return max
}

// Run simulates day for strategy s, one second at a time.
func Run(o Office, d Day, s Strategy) KPI {
	w := newWorld(o, d)
	conns := map[string]*conn{}
	var ids []string
	for _, ch := range o.Chargers {
		conns[ch.ID] = &conn{ch: ch, limitA: ch.MaxA}
		ids = append(ids, ch.ID)
	}
	sort.Strings(ids)
	cars := append([]Car(nil), d.Cars...)
	avail := o.ContractedKW * 1000 * 1.1
	prices := tariff.Price{F1: 0.32, F2: 0.27, F3: 0.21}
	k := KPI{Day: d.Name, Strategy: s.Name()}
	var lastBase, lastPV float64
	var disturbed time.Time
	var meterW float64
	var meterAt time.Time
	var evFromPVWh, pvSelfWh float64
	for t := d.Start; t.Before(d.End); t = t.Add(time.Second) {
		// Cars arrive and leave.
		for i := range cars {
			c := &cars[i]
			cn := conns[c.Charger]
			if cn.car == nil && !t.Before(c.Arrive) && t.Before(c.Leave) && !c.Arrive.IsZero() {
				cn.car, cn.gotWh, cn.limitA, cn.pending, cn.repAt = c, 0, defaultLimit(s, cn.ch.MaxA), nil, time.Time{}
				disturbed = t
			}
			if cn.car == c && !t.Before(c.Leave) {
				if c.Van {
					k.VanShortKWh += math.Max(0, c.NeedKWh-cn.gotWh/1000)
				}
				cn.car, cn.drawA, cn.drawing = nil, 0, false
				c.Arrive = time.Time{} // gone
			}
		}
		// Limits reach the cars after the reaction delay.
		var evW float64
		for _, id := range ids {
			cn := conns[id]
			for len(cn.pending) > 0 && !t.Before(cn.pending[0].at) {
				cn.limitA, cn.pending = cn.pending[0].a, cn.pending[1:]
			}
			cn.drawA = 0
			if cn.car != nil && cn.gotWh < cn.car.NeedKWh*1000 && cn.limitA >= 6 {
				cn.drawA = math.Min(math.Min(cn.limitA, cn.car.MaxA), cn.ch.MaxA)
			}
			if on := cn.drawA > 0; on != cn.drawing {
				if on {
					k.Starts++
					disturbed = t
				}
				cn.drawing = on
			}
			if cn.car != nil {
				p := cn.drawA * V * float64(cn.car.Phases)
				cn.gotWh += p / 3600
				evW += p
			}
		}
		base, pv := w.baseW(t), w.pvW(t)
		if math.Abs(base-lastBase) > StepW || lastPV-pv > StepW {
			disturbed = t
		}
		lastBase, lastPV = base, pv
		grid := base + evW - pv
		// KPIs.
		if grid > avail {
			k.SecondsAbove++
			if t.Sub(disturbed) > Window {
				k.SecondsAboveBeyond++
			}
			k.WorstOvershootKW = math.Max(k.WorstOvershootKW, (grid-avail)/1000)
		}
		if grid > 0 {
			k.ImportKWh += grid / 3.6e6
			k.CostEUR += grid / 3.6e6 * prices.Of(tariff.At(t))
		} else {
			k.ExportKWh += -grid / 3.6e6
		}
		k.PVKWh += pv / 3.6e6
		k.EVKWh += evW / 3.6e6
		pvSelfWh += math.Min(pv, base+evW) / 3600
		evFromPVWh += math.Min(evW, math.Max(0, pv-base)) / 3600
		// The meter reads every second, unless it is out.
		if !(d.MeterOutage[0].Before(t.Add(time.Nanosecond)) && t.Before(d.MeterOutage[1])) {
			meterW, meterAt = grid, t
		}
		// The strategy decides on what was measured.
		v := View{GridW: meterW, MeterAt: meterAt, PVW: pv}
		for _, id := range ids {
			cn := conns[id]
			cv := ConnView{ID: id, MaxA: cn.ch.MaxA, LimitA: cn.limitA, SoCPct: -1}
			if cn.car != nil {
				cv.Plugged, cv.Tag, cv.Van, cv.Arrive, cv.Departure = true, cn.car.Tag, cn.car.Van, cn.car.Arrive, cn.car.Leave
				cv.SessionWh = cn.gotWh
				if t.Sub(cn.repAt) >= o.ReportEvery {
					cn.repA, cn.repAt = cn.drawA, t
				}
				for p := 0; p < cn.car.Phases; p++ {
					cv.DrawA[p] = cn.repA
				}
				cv.PowerW = cn.repA * V * float64(cn.car.Phases)
				cv.ReportedAt = cn.repAt
				cv.Suspended = cn.gotWh >= cn.car.NeedKWh*1000
				if cn.car.CapKWh > 0 {
					cv.SoCPct = 100 - (cn.car.NeedKWh-cn.gotWh/1000)/cn.car.CapKWh*100
				}
			}
			v.Conns = append(v.Conns, cv)
		}
		for id, a := range s.Limits(t, v) {
			if cn := conns[id]; cn != nil {
				cn.pending = append(cn.pending, pendingLimit{t.Add(ReactionDelay), a})
			}
		}
	}
	// Vans still plugged at the end whose departure is inside the window.
	for _, id := range ids {
		if cn := conns[id]; cn.car != nil && cn.car.Van && !cn.car.Leave.After(d.End) {
			k.VanShortKWh += math.Max(0, cn.car.NeedKWh-cn.gotWh/1000)
		}
	}
	if k.PVKWh > 0 {
		k.PVSelfPct = 100 * pvSelfWh / 1000 / k.PVKWh
	}
	if k.EVKWh > 0 {
		k.EVFromPVPct = 100 * evFromPVWh / 1000 / k.EVKWh
	}
	return k
}
