package ocpp_test

import (
	"math"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp"
)

// The composite schedule the office computes from its own profiles, on a
// fixed clock: precedence of purposes and stack levels, absolute, relative
// and recurring schedules, validity windows and units.
func TestComposite_Table(t *testing.T) {
	from := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday
	sched := func(unit string, start time.Time, dur int, periods ...ocpp.Period) ocpp.Schedule {
		return ocpp.Schedule{Start: start, DurationS: dur, Unit: unit, Periods: periods}
	}
	per := func(s int, l float64) ocpp.Period { return ocpp.Period{StartS: s, Limit: l} }
	prof := func(id, conn, level int, purpose, kind string, s ocpp.Schedule) ocpp.ChargingProfile {
		return ocpp.ChargingProfile{ID: id, Connector: conn, StackLevel: level, Purpose: purpose, Kind: kind, Schedule: s}
	}
	txDefault := func(conn, level int, amps float64) ocpp.ChargingProfile {
		return prof(100+conn*10+level, conn, level, ocpp.PurposeTxDefault, ocpp.KindRelative, sched("A", time.Time{}, 0, per(0, amps)))
	}
	h := 3600
	cases := []struct {
		name      string
		profiles  []ocpp.ChargingProfile
		connector int
		tx        *ocpp.TxContext
		unit      string
		duration  int
		want      []ocpp.Period
	}{
		{name: "no profile: no limit", connector: 1, want: []ocpp.Period{{NoLimit: true}}},
		{name: "absolute started before the window", connector: 1, profiles: []ocpp.ChargingProfile{
			prof(1, 1, 0, ocpp.PurposeTxDefault, ocpp.KindAbsolute, sched("A", from.Add(-30*time.Minute), 0, per(0, 16), per(h, 10)))},
			want: []ocpp.Period{per(0, 16), per(1800, 10)}},
		{name: "absolute starting inside the window, ending with its duration", connector: 1, profiles: []ocpp.ChargingProfile{
			prof(1, 1, 0, ocpp.PurposeTxDefault, ocpp.KindAbsolute, sched("A", from.Add(time.Hour), 1800, per(0, 12)))},
			want: []ocpp.Period{{NoLimit: true}, per(h, 12), {StartS: h + 1800, NoLimit: true}}},
		{name: "higher stack level wins until its duration runs out", connector: 1, profiles: []ocpp.ChargingProfile{
			txDefault(1, 1, 16),
			prof(2, 1, 2, ocpp.PurposeTxDefault, ocpp.KindRelative, sched("A", time.Time{}, 600, per(0, 6)))},
			want: []ocpp.Period{per(0, 6), per(600, 16)}},
		{name: "TxProfile of the running transaction, relative to its start", connector: 1,
			tx: &ocpp.TxContext{ID: "T1", Start: from.Add(-5 * time.Minute)}, profiles: []ocpp.ChargingProfile{
				txDefault(1, 9, 32),
				{ID: 3, Connector: 1, StackLevel: 0, Purpose: ocpp.PurposeTx, Kind: ocpp.KindRelative, TransactionID: "T1", Schedule: sched("A", time.Time{}, 0, per(0, 20), per(600, 8))}},
			want: []ocpp.Period{per(0, 20), per(300, 8)}},
		{name: "TxProfile of another transaction does not apply", connector: 1,
			tx: &ocpp.TxContext{ID: "T2", Start: from}, profiles: []ocpp.ChargingProfile{
				txDefault(1, 1, 32),
				{ID: 3, Connector: 1, StackLevel: 5, Purpose: ocpp.PurposeTx, Kind: ocpp.KindRelative, TransactionID: "T1", Schedule: sched("A", time.Time{}, 0, per(0, 8))}},
			want: []ocpp.Period{per(0, 32)}},
		{name: "TxProfile without a transaction does not apply", connector: 1, profiles: []ocpp.ChargingProfile{
			txDefault(1, 1, 32),
			{ID: 3, Connector: 1, StackLevel: 5, Purpose: ocpp.PurposeTx, Kind: ocpp.KindRelative, Schedule: sched("A", time.Time{}, 0, per(0, 8))}},
			want: []ocpp.Period{per(0, 32)}},
		{name: "connector's TxDefault beats connector 0's whatever the levels", connector: 1, profiles: []ocpp.ChargingProfile{
			txDefault(0, 9, 6), txDefault(1, 1, 20)},
			want: []ocpp.Period{per(0, 20)}},
		{name: "connector 0's TxDefault when the connector has none", connector: 2, profiles: []ocpp.ChargingProfile{
			txDefault(0, 1, 6), txDefault(1, 1, 20)},
			want: []ocpp.Period{per(0, 6)}},
		{name: "charger max caps, converted from W at 3 phases", connector: 1, profiles: []ocpp.ChargingProfile{
			txDefault(1, 1, 32),
			prof(9000, 0, 5, ocpp.PurposeMax, ocpp.KindAbsolute, sched("W", from.Add(-time.Hour), 0, per(0, 11040), per(2*h, 6900)))},
			want: []ocpp.Period{per(0, 16), per(h, 10)}},
		{name: "max above the connector's limit does not raise it", connector: 1, profiles: []ocpp.ChargingProfile{
			txDefault(1, 1, 10),
			prof(9000, 0, 5, ocpp.PurposeMax, ocpp.KindAbsolute, sched("A", from, 0, per(0, 32)))},
			want: []ocpp.Period{per(0, 10)}},
		{name: "connector 0 gets the caps only", connector: 0, profiles: []ocpp.ChargingProfile{
			txDefault(0, 1, 6),
			prof(9000, 0, 5, ocpp.PurposeMax, ocpp.KindAbsolute, sched("A", from, 0, per(0, 25)))},
			want: []ocpp.Period{per(0, 25)}},
		{name: "recurring daily: night limit 22:00-06:00", connector: 1, duration: 24 * h, profiles: []ocpp.ChargingProfile{
			{ID: 4, Connector: 1, StackLevel: 1, Purpose: ocpp.PurposeTxDefault, Kind: ocpp.KindRecurring, Recurrency: ocpp.RecurDaily,
				Schedule: sched("A", time.Date(2026, 1, 1, 22, 0, 0, 0, time.UTC), 0, per(0, 6), per(8*h, 32))}},
			want: []ocpp.Period{per(0, 32), per(12*h, 6), per(20*h, 32)}},
		{name: "recurring weekly with a duration: Mondays 08:00-12:00 only", connector: 1, duration: 7 * 24 * h, profiles: []ocpp.ChargingProfile{
			txDefault(1, 1, 32),
			{ID: 5, Connector: 1, StackLevel: 2, Purpose: ocpp.PurposeTxDefault, Kind: ocpp.KindRecurring, Recurrency: ocpp.RecurWeekly,
				Schedule: sched("A", time.Date(2026, 2, 2, 8, 0, 0, 0, time.UTC), 4*h, per(0, 10))}},
			want: []ocpp.Period{per(0, 10), per(2*h, 32), per(7*24*h-2*h, 10)}},
		{name: "validity window", connector: 1, duration: 3 * h, profiles: []ocpp.ChargingProfile{
			txDefault(1, 1, 16),
			{ID: 6, Connector: 1, StackLevel: 3, Purpose: ocpp.PurposeTxDefault, Kind: ocpp.KindRelative,
				ValidFrom: from.Add(time.Hour), ValidTo: from.Add(2 * time.Hour), Schedule: sched("A", time.Time{}, 0, per(0, 8))}},
			want: []ocpp.Period{per(0, 16), per(h, 8), per(2*h, 16)}},
		{name: "expired profile is ignored", connector: 1, profiles: []ocpp.ChargingProfile{
			txDefault(1, 1, 16),
			{ID: 6, Connector: 1, StackLevel: 3, Purpose: ocpp.PurposeTxDefault, Kind: ocpp.KindRelative,
				ValidTo: from.Add(-time.Second), Schedule: sched("A", time.Time{}, 0, per(0, 8))}},
			want: []ocpp.Period{per(0, 16)}},
		{name: "asked in W from A at the period's phases", connector: 1, unit: "W", profiles: []ocpp.ChargingProfile{
			prof(7, 1, 1, ocpp.PurposeTxDefault, ocpp.KindRelative, sched("A", time.Time{}, 0, ocpp.Period{StartS: 0, Limit: 10, Phases: 1}))},
			want: []ocpp.Period{{StartS: 0, Limit: 2300, Phases: 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			unit, dur := c.unit, c.duration
			if unit == "" {
				unit = "A"
			}
			if dur == 0 {
				dur = 4 * h
			}
			got := ocpp.Composite(c.profiles, c.connector, c.tx, from, dur, unit)
			if !got.Start.Equal(from) || got.DurationS != dur || got.Unit != unit || got.Connector != c.connector {
				t.Errorf("header %+v", got)
			}
			if len(got.Periods) != len(c.want) {
				t.Fatalf("periods %+v, want %+v", got.Periods, c.want)
			}
			for i, w := range c.want {
				g := got.Periods[i]
				if g.StartS != w.StartS || g.NoLimit != w.NoLimit || math.Abs(g.Limit-w.Limit) > 1e-6 || g.Phases != w.Phases {
					t.Errorf("period %d = %+v, want %+v (all %+v)", i, g, w, got.Periods)
				}
			}
		})
	}
}
