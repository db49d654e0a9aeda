package rules

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/rules/image"
)

// t0 is a Tuesday morning in F1 (UTC 09:00 = 10:00 in Rome).
var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// cycle is one row of a controller table: the office at a time, and what
// the rules must decide. Draws are per-phase amps on the connector's
// phases; the meter reads base load + every draw unless gridW is set.
type cycle struct {
	at      time.Duration      // since t0
	baseW   float64            // office load besides the chargers (− PV)
	gridW   *float64           // a meter reading that is not base+draws (nonsense)
	meterAt *time.Duration     // when the meter last read; default at
	phaseA  *[3]float64        // grid current per phase; default unknown
	pvW     float64            // PV production
	pvRated float64            // inverter rating (rated_power_w)
	draw    map[string]float64 // connector key → amps drawn per phase
	report  map[string]float64 // what the charger reports instead (a stale report); default draw
	repAt   *time.Duration     // when the chargers' reports were taken; default at
	in      Inputs
	want    map[string]float64 // connector key → expected limit (A)
	why     map[string]string  // connector key → expected reason
	events  []string           // event kinds expected this cycle, sorted
	check   func(t *testing.T, d Decision)
}

// office is the test fixture: config and sessions.
type office struct {
	cfg      Config
	chargers []image.Charger
	phases   map[string]int // connector key → phases it draws on
}

func session(id string, conn int, group string, start time.Duration) image.Charger {
	return image.Charger{
		ChargerID: id, Connector: conn, Online: true, Status: "Charging", Session: true, SoCPct: -1,
		TransactionID: id + "-tx", Group: group, IDTag: group + "-" + id, SessionStart: t0.Add(start),
	}
}

func ptr[T any](v T) *T { return &v }

func run(t *testing.T, o office, rows []cycle) {
	t.Helper()
	o.cfg.ApplyDefaults()
	if err := o.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := NewEngine(o.cfg)
	for i, r := range rows {
		now := t0.Add(r.at)
		snap := image.Snapshot{Taken: now, Values: map[string]map[string]map[string]image.Value{}}
		var drawW float64
		chs := make([]image.Charger, len(o.chargers))
		copy(chs, o.chargers)
		for j := range chs {
			a := r.draw[chs[j].Key()]
			n := o.phases[chs[j].Key()]
			if n == 0 {
				n = 3
			}
			drawW += a * 230 * float64(n)
			if rep, ok := r.report[chs[j].Key()]; ok {
				a = rep
			}
			for p := 0; p < n; p++ {
				chs[j].CurrentA[p] = a
			}
			chs[j].PowerW = a * 230 * float64(n)
			chs[j].MeterAt = now
			if r.repAt != nil {
				chs[j].MeterAt = t0.Add(*r.repAt)
			}
		}
		snap.Chargers = chs
		grid := r.baseW + drawW - r.pvW
		if r.gridW != nil {
			grid = *r.gridW
		}
		mAt := now
		if r.meterAt != nil {
			mAt = t0.Add(*r.meterAt)
		}
		fields := map[string]image.Value{"power_w": {V: grid, At: mAt}}
		if r.phaseA != nil {
			for p, a := range r.phaseA {
				fields["current_l"+string(rune('1'+p))+"_a"] = image.Value{V: a, At: mAt}
			}
		}
		snap.Values["grid"] = map[string]map[string]image.Value{"meter": fields}
		if r.pvW > 0 {
			f := map[string]image.Value{"ac_power_w": {V: r.pvW, At: now}}
			if r.pvRated > 0 {
				f["rated_power_w"] = image.Value{V: r.pvRated, At: now}
			}
			snap.Values["pv"] = map[string]map[string]image.Value{"inv1": f}
		}
		d := e.Step(snap, now, r.in)
		got := map[string]Setpoint{}
		for _, sp := range d.Setpoints {
			got[sp.Key] = sp
		}
		for k, want := range r.want {
			sp, ok := got[k]
			if !ok {
				t.Errorf("cycle %d (t+%s): no setpoint for %s", i, r.at, k)
				continue
			}
			if math.Abs(sp.Amps-want) > 0.051 {
				t.Errorf("cycle %d (t+%s): %s limit %.1f A (%s), want %.1f A", i, r.at, k, sp.Amps, sp.Reason, want)
			}
		}
		for k, want := range r.why {
			if got[k].Reason != want {
				t.Errorf("cycle %d (t+%s): %s reason %q, want %q", i, r.at, k, got[k].Reason, want)
			}
		}
		var kinds []string
		for _, ev := range d.Events {
			kinds = append(kinds, ev.Tags["kind"])
		}
		sort.Strings(kinds)
		if strings.Join(kinds, ",") != strings.Join(r.events, ",") {
			t.Errorf("cycle %d (t+%s): events %v, want %v", i, r.at, kinds, r.events)
		}
		if r.check != nil {
			r.check(t, d)
		}
	}
}
