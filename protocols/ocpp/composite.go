package ocpp

import (
	"math"
	"slices"
	"time"
)

// The composite schedule (1.6 §3.13.4, 2.0.1 K08) as the office computes it
// from the profiles it installed itself, so an operator can compare it with
// what the charger says it will do (GetCompositeSchedule): a difference means
// the charger lost a profile, holds one from somebody else, or reads ours
// differently.

// Profile purposes and kinds, spelled as in 1.6. 2.0.1's
// ChargingStationMaxProfile is kept as PurposeMax.
const (
	PurposeMax       = "ChargePointMaxProfile"
	PurposeTxDefault = "TxDefaultProfile"
	PurposeTx        = "TxProfile"
	// PurposeExternal is 2.0.1's ChargingStationExternalConstraints: a cap
	// like PurposeMax, set by an energy management system.
	PurposeExternal = "ChargingStationExternalConstraints"

	KindAbsolute  = "Absolute"
	KindRecurring = "Recurring"
	KindRelative  = "Relative"

	RecurDaily  = "Daily"
	RecurWeekly = "Weekly"
)

// ChargingProfile is a charging profile in a form both versions share.
type ChargingProfile struct {
	ID            int       `json:"id"`
	Connector     int       `json:"connector"` // 1.6 connector / 2.0.1 EVSE; 0 = the whole charger
	StackLevel    int       `json:"stack_level"`
	Purpose       string    `json:"purpose"`
	Kind          string    `json:"kind"`
	Recurrency    string    `json:"recurrency,omitempty"` // Daily | Weekly, Recurring only
	ValidFrom     time.Time `json:"valid_from,omitzero"`
	ValidTo       time.Time `json:"valid_to,omitzero"`
	TransactionID string    `json:"transaction_id,omitempty"` // TxProfile
	Schedule      Schedule  `json:"schedule"`
}

// Schedule is a profile's charging schedule.
type Schedule struct {
	Start     time.Time `json:"start,omitzero"`       // Absolute and Recurring
	DurationS int       `json:"duration_s,omitempty"` // 0: the last period lasts for ever
	Unit      string    `json:"unit"`                 // A (per phase) or W
	Periods   []Period  `json:"periods"`
}

// Period is one step of a schedule, StartS seconds after its start.
type Period struct {
	StartS int     `json:"start_s"`
	Limit  float64 `json:"limit"`
	Phases int     `json:"phases,omitempty"`
	// NoLimit: no profile limits this interval (Limit is meaningless).
	NoLimit bool `json:"no_limit,omitempty"`
}

// CompositeSchedule is the limit in force on a connector from Start for
// DurationS seconds: each period lasts until the next one starts.
type CompositeSchedule struct {
	Connector int       `json:"connector"`
	Start     time.Time `json:"start"`
	DurationS int       `json:"duration_s"`
	Unit      string    `json:"unit"`
	Periods   []Period  `json:"periods"`
}

// TxContext is the transaction running on the connector, if any: Relative
// schedules start with it and its TxProfile applies.
type TxContext struct {
	ID    string
	Start time.Time
}

// nominalVoltage converts A and W when a profile's unit is not the one asked
// for (W = A × 230 V × phases, 3 phases when the period does not say).
const nominalVoltage = 230.0

// Composite combines profiles into the schedule for connector from from for
// durationS seconds in unit (A or W). On a connector, the limit is the
// transaction's TxProfile (when tx is running), else the connector's
// TxDefaultProfile, else connector 0's; within each, the highest stack level
// that has a period at that moment wins (a profile whose duration ran out
// or outside its validity window gives way to the next lower level). The
// charger-wide max (and 2.0.1 external constraint) profiles cap the result.
// Connector 0 gets the caps alone. Times are taken at whole seconds.
func Composite(profiles []ChargingProfile, connector int, tx *TxContext, from time.Time, durationS int, unit string) CompositeSchedule {
	from = from.Truncate(time.Second)
	out := CompositeSchedule{Connector: connector, Start: from, DurationS: durationS, Unit: unit}
	end := from.Add(time.Duration(durationS) * time.Second)
	var points []int
	for _, p := range profiles {
		for _, t := range p.changes(tx, from, end) {
			if off := int(math.Ceil(t.Sub(from).Seconds())); off > 0 && off < durationS {
				points = append(points, off)
			}
		}
	}
	points = append(points, 0)
	slices.Sort(points)
	points = slices.Compact(points)
	for _, off := range points {
		per := limitAt(profiles, connector, tx, from, from.Add(time.Duration(off)*time.Second), unit)
		per.StartS = off
		if n := len(out.Periods); n > 0 && samePeriod(out.Periods[n-1], per) {
			continue
		}
		out.Periods = append(out.Periods, per)
	}
	return out
}

func samePeriod(a, b Period) bool {
	if a.NoLimit || b.NoLimit {
		return a.NoLimit == b.NoLimit
	}
	return math.Abs(a.Limit-b.Limit) < 1e-6 && a.Phases == b.Phases
}

// limitAt is the composite limit at t.
func limitAt(profiles []ChargingProfile, connector int, tx *TxContext, from, t time.Time, unit string) Period {
	best := func(match func(ChargingProfile) bool) (Period, bool) {
		var out Period
		level := -1
		for _, p := range profiles {
			if p.StackLevel <= level || !match(p) {
				continue
			}
			if per, ok := p.at(tx, from, t); ok {
				out, level = convert(per, p.Schedule.Unit, unit), p.StackLevel
			}
		}
		return out, level >= 0
	}
	own := Period{NoLimit: true}
	if connector > 0 {
		found := false
		if tx != nil {
			own, found = best(func(p ChargingProfile) bool {
				return p.Purpose == PurposeTx && p.Connector == connector && (p.TransactionID == "" || p.TransactionID == tx.ID)
			})
		}
		if !found {
			own, found = best(func(p ChargingProfile) bool { return p.Purpose == PurposeTxDefault && p.Connector == connector })
		}
		if !found {
			own, found = best(func(p ChargingProfile) bool { return p.Purpose == PurposeTxDefault && p.Connector == 0 })
		}
		if !found {
			own = Period{NoLimit: true}
		}
	}
	for _, purpose := range []string{PurposeMax, PurposeExternal} {
		if capP, ok := best(func(p ChargingProfile) bool { return p.Purpose == purpose && p.Connector == 0 }); ok {
			if own.NoLimit || capP.Limit < own.Limit {
				own = capP
			}
		}
	}
	return own
}

// convert expresses a period's limit, given in unit from, in unit to.
func convert(p Period, from, to string) Period {
	if from == to || p.NoLimit {
		return p
	}
	phases := float64(p.Phases)
	if phases == 0 {
		phases = 3
	}
	if to == "W" {
		p.Limit *= nominalVoltage * phases
	} else {
		p.Limit /= nominalVoltage * phases
	}
	return p
}

// recurrence is the length of a Recurring profile's cycle.
func (p ChargingProfile) recurrence() time.Duration {
	if p.Recurrency == RecurWeekly {
		return 7 * 24 * time.Hour
	}
	return 24 * time.Hour
}

// base is when the schedule's cycle holding t started (ok false: the
// schedule has not started at t).
func (p ChargingProfile) base(tx *TxContext, from, t time.Time) (time.Time, bool) {
	switch p.Kind {
	case KindRelative:
		if tx != nil && p.Purpose != PurposeMax && p.Purpose != PurposeExternal {
			return tx.Start.Truncate(time.Second), true
		}
		return from, true // no transaction yet: it would start now
	case KindRecurring:
		if p.Schedule.Start.IsZero() {
			return time.Time{}, false
		}
		cycle := p.recurrence()
		n := math.Floor(float64(t.Sub(p.Schedule.Start)) / float64(cycle))
		return p.Schedule.Start.Add(time.Duration(n) * cycle), true
	}
	if p.Schedule.Start.IsZero() {
		return from, true // 1.6 allows an Absolute schedule without a start: from now
	}
	return p.Schedule.Start, !t.Before(p.Schedule.Start)
}

// at is p's limit at t in the profile's own unit (ok false: none).
func (p ChargingProfile) at(tx *TxContext, from, t time.Time) (Period, bool) {
	if (!p.ValidFrom.IsZero() && t.Before(p.ValidFrom)) || (!p.ValidTo.IsZero() && !t.Before(p.ValidTo)) {
		return Period{}, false
	}
	base, ok := p.base(tx, from, t)
	if !ok {
		return Period{}, false
	}
	off := int(t.Sub(base) / time.Second)
	if off < 0 || (p.Schedule.DurationS > 0 && off >= p.Schedule.DurationS) {
		return Period{}, false
	}
	var out Period
	found := false
	for _, per := range p.Schedule.Periods {
		if per.StartS <= off && (!found || per.StartS >= out.StartS) {
			out, found = per, true
		}
	}
	if !found {
		return Period{}, false
	}
	return out, true
}

// changes lists the moments in [from, end) where p's limit may change.
func (p ChargingProfile) changes(tx *TxContext, from, end time.Time) []time.Time {
	out := []time.Time{p.ValidFrom, p.ValidTo}
	addCycle := func(base time.Time) {
		for _, per := range p.Schedule.Periods {
			out = append(out, base.Add(time.Duration(per.StartS)*time.Second))
		}
		if p.Schedule.DurationS > 0 {
			out = append(out, base.Add(time.Duration(p.Schedule.DurationS)*time.Second))
		}
	}
	if p.Kind == KindRecurring {
		if first, ok := p.base(tx, from, from); ok {
			for b := first; b.Before(end); b = b.Add(p.recurrence()) {
				addCycle(b)
			}
		}
		return out
	}
	base, _ := p.base(tx, from, from) // an Absolute start still ahead is returned too
	addCycle(base)
	return out
}
