package rules

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/image"
)

// MeasurementRules is the rules' own explanation of every decision
// (docs/influxdb-schema.md).
const MeasurementRules = "rules"

// Sink is where the rules measurement and events go (the edge's buffer).
type Sink interface {
	Append(ctx context.Context, s ...sample.Sample) error
}

// Snapshotter is the process image as the runner reads it.
type Snapshotter interface{ Snapshot() image.Snapshot }

// Deps are the runner's outside world. Inverters, Publisher may be nil.
type Deps struct {
	Image     Snapshotter
	Chargers  ChargeLimiter
	Inverters ProductionLimiter
	Publisher Publisher
	Sink      Sink
	Log       *slog.Logger
	Now       func() time.Time
}

// Runner drives the engine every cycle and owns actuation. Its methods are
// safe for concurrent use (the HTTP API reads and sets modes).
type Runner struct {
	d Deps

	mu        sync.Mutex
	eng       *Engine
	modes     map[string]string
	overrides map[string]Override
	last      Decision
	acts      map[string]*actuator // charger or inverter id → its owner
	actsCtx   context.Context
	lastRows  map[string]string // row key → decision signature
	lastWrite time.Time
	errors    uint64
	cycles    uint64
	alerts    *alertSet
	wake      chan struct{}
}

// minGap is the shortest time between two cycles: a fresh meter reading
// starts one at once, but never more often than this.
const minGap = 200 * time.Millisecond

// MeterRead tells the runner the grid meter just reported: the next cycle
// runs now instead of at the next tick, so a step in import is acted on
// within the meter's own poll interval. It never blocks.
func (r *Runner) MeterRead() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// NewRunner builds a runner for a validated config with defaults applied.
func NewRunner(cfg Config, d Deps) (*Runner, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	al, err := compileAlerts(cfg.Alerts)
	if err != nil {
		return nil, err
	}
	return &Runner{
		d: d, eng: NewEngine(cfg), modes: map[string]string{}, overrides: map[string]Override{},
		acts: map[string]*actuator{}, lastRows: map[string]string{}, wake: make(chan struct{}, 1),
		alerts: (&alertSet{pub: make(chan pubJob, 64)}).reload(al),
	}, nil
}

// SetConfig applies a reloaded config: limits, modes and rules change at the
// next cycle; controller state (ramps, fail-safe, rule timers) is kept.
func (r *Runner) SetConfig(cfg Config) error {
	al, err := compileAlerts(cfg.Alerts)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.eng.SetConfig(cfg)
	r.alerts = r.alerts.reload(al)
	r.mu.Unlock()
	return nil
}

// Run cycles until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	r.actsCtx = ctx
	for _, a := range r.acts {
		go a.run(ctx) // created by a Cycle before Run
	}
	every := r.eng.Config().Cycle
	r.mu.Unlock()
	if r.d.Publisher != nil {
		go publisher(ctx, r.d.Publisher, r.alerts.pub, r.d.Log)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// A reading that arrives within minGap of the last cycle is not
	// dropped but deferred to the end of the gap: with the meter polled
	// at the cycle's own period the two lock in phase, and a dropped
	// reading would wait a whole cycle (p50 1.9 s from a step to the
	// chargers in BenchmarkRulesStepToConfirmed at a 1 s poll).
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-soon.C:
		case <-r.wake:
			if wait := minGap - time.Since(last); wait > 0 {
				soon.Reset(wait)
				continue
			}
		}
		soon.Stop()
		last = time.Now()
		r.Cycle(ctx)
		r.mu.Lock()
		every = r.eng.Config().Cycle
		r.mu.Unlock()
		t.Reset(every) // the next tick is a whole cycle after this one
	}
}

// Cycle runs one cycle now: read the image once, decide, hand setpoints to
// the actuators (never waiting for a device), write what was decided.
func (r *Runner) Cycle(ctx context.Context) Decision {
	snap := r.d.Image.Snapshot()
	now := r.d.Now()
	r.mu.Lock()
	in := Inputs{Rejected: map[string]bool{}, Modes: copyMap(r.modes), Overrides: map[string]Override{}, Confirmed: map[string]float64{}}
	for k, ov := range r.overrides {
		if now.Before(ov.Until) {
			in.Overrides[k] = ov
		} else {
			delete(r.overrides, k)
		}
	}
	for id, a := range r.acts {
		for conn, t := range a.status() {
			if t.State == StateRejected && conn != "0" {
				in.Rejected[id+"/"+conn] = true
			}
			if t.State == StateConfirmed && conn != "0" {
				in.Confirmed[id+"/"+conn] = t.Sent
			}
		}
	}
	d := r.eng.Step(snap, now, in)
	cfg := r.eng.Config()
	d.Events = append(d.Events, r.alerts.eval(&snap, now, cfg, r.d.Publisher, r.d.Log, &d)...)
	r.errors += uint64(d.Errors)
	r.cycles++
	r.actuate(cfg, snap, d)
	r.last = d
	out := r.rows(cfg, d, now)
	r.mu.Unlock()
	out = append(out, d.Events...)
	if len(out) > 0 {
		if err := r.d.Sink.Append(ctx, out...); err != nil && ctx.Err() == nil {
			r.d.Log.Warn("rules: cannot store decision", "err", err)
		}
	}
	return d
}

func (r *Runner) actuator(id string, send func(context.Context, string, Tracked) Result, cfg Config) *actuator {
	a := r.acts[id]
	if a == nil {
		a = newActuator(send, cfg.ActuationTimout, r.d.Now)
		r.acts[id] = a
		if r.actsCtx != nil {
			go a.run(r.actsCtx)
		}
	}
	return a
}

// actuate hands every setpoint to its device's owner goroutine.
func (r *Runner) actuate(cfg Config, snap image.Snapshot, d Decision) {
	if r.d.Chargers != nil {
		live := map[string]map[string]bool{}
		for _, ch := range snap.Chargers {
			if live[ch.ChargerID] == nil {
				live[ch.ChargerID] = map[string]bool{}
			}
			if !ch.Online {
				continue
			}
			// The safe limit as the charger's default profile: what it
			// keeps doing if this box dies.
			a := r.actuator(ch.ChargerID, r.chargerSend(ch.ChargerID), cfg)
			a.want("0", cfg.SafeLimitA, 0)
			live[ch.ChargerID]["0"] = true
		}
		for _, sp := range d.Setpoints {
			a := r.actuator(sp.ChargerID, r.chargerSend(sp.ChargerID), cfg)
			a.want(strconv.Itoa(sp.Connector), sp.Amps, sp.Phases)
			live[sp.ChargerID][strconv.Itoa(sp.Connector)] = true
		}
		for id, keys := range live {
			if a := r.acts[id]; a != nil {
				for k := range a.status() {
					if !keys[k] {
						a.forget(k) // session over: the next one starts from the default profile
					}
				}
			}
		}
	}
	if r.d.Inverters != nil {
		for _, inv := range d.Inverters {
			a := r.actuator("inv:"+inv.ID, r.inverterSend(inv.ID), cfg)
			a.want("limit", inv.LimitW, 0)
		}
	}
}

func (r *Runner) chargerSend(id string) func(context.Context, string, Tracked) Result {
	return func(ctx context.Context, key string, t Tracked) Result {
		var res Result
		var err error
		if key == "0" {
			res, err = r.d.Chargers.SetSafeDefault(ctx, id, t.Want)
		} else {
			conn, _ := strconv.Atoi(key)
			res, err = r.d.Chargers.SetChargeLimit(ctx, id, conn, t.Want, t.Phases)
		}
		if err != nil {
			return Result{Status: StateError, Detail: err.Error()}
		}
		if res.Status == StateRejected {
			r.d.Log.Warn("rules: charger rejected a limit; it is left on its safe default", "charger", id, "connector", key, "amps", t.Want, "detail", res.Detail)
		}
		return res
	}
}

func (r *Runner) inverterSend(id string) func(context.Context, string, Tracked) Result {
	return func(ctx context.Context, _ string, t Tracked) Result {
		var err error
		if t.Want < 0 {
			err = r.d.Inverters.ClearProductionLimit(ctx, id)
		} else {
			err = r.d.Inverters.SetProductionLimitW(ctx, id, t.Want)
		}
		if err != nil {
			return Result{Status: StateError, Detail: err.Error()}
		}
		return Result{Status: StateConfirmed}
	}
}

// rows builds the rules measurement: written when a decision changes and
// at least every write_every.
func (r *Runner) rows(cfg Config, d Decision, now time.Time) []sample.Sample {
	force := now.Sub(r.lastWrite) >= cfg.WriteEvery
	var out []sample.Sample
	paused := 0
	seen := map[string]bool{"office": true}
	for _, sp := range d.Setpoints {
		if sp.Amps == 0 {
			paused++
		}
		st := r.trackedState(sp)
		sig := fmt.Sprintf("%.1f|%d|%s|%s|%s", sp.Amps, sp.Phases, sp.Reason, sp.Mode, st)
		seen[sp.Key] = true
		if !force && r.lastRows[sp.Key] == sig {
			continue
		}
		r.lastRows[sp.Key] = sig
		f := map[string]any{"limit_a": sp.Amps, "phases": int64(sp.Phases), "reason": sp.Reason, "mode": sp.Mode,
			"draw_w": sp.DrawW, "actuation": st}
		if sp.Group != "" {
			f["group"] = sp.Group
		}
		out = append(out, sample.Sample{Measurement: MeasurementRules, Time: now, Fields: f,
			Tags: map[string]string{sample.TagDevice: sp.ChargerID, "connector": strconv.Itoa(sp.Connector)}})
	}
	for k := range r.lastRows {
		if !seen[k] {
			delete(r.lastRows, k)
		}
	}
	var reasons []string
	for _, sp := range d.Setpoints {
		reasons = append(reasons, sp.Key+"="+sp.Reason)
	}
	sort.Strings(reasons)
	sig := fmt.Sprintf("%t|%t|%s|%d|%.0f|%s", d.Failsafe, d.MeterOK, d.Band, paused, d.AvailableW, strings.Join(reasons, ","))
	if force || r.lastRows["office"] != sig {
		r.lastRows["office"] = sig
		f := map[string]any{
			"available_w": d.AvailableW, "import_w": d.ImportW, "budget_w": d.BudgetW, "pv_w": d.PVW,
			"failsafe": d.Failsafe, "meter_ok": d.MeterOK, "band": d.Band, "sessions": int64(len(d.Setpoints)),
			"paused": int64(paused), "errors_total": int64(r.errors), "reasons": strings.Join(reasons, ","),
		}
		out = append(out, sample.Sample{Measurement: MeasurementRules, Time: now, Fields: f,
			Tags: map[string]string{sample.TagDevice: EventDevice}})
	}
	if force {
		r.lastWrite = now
	}
	return out
}

func (r *Runner) trackedState(sp Setpoint) string {
	if a := r.acts[sp.ChargerID]; a != nil {
		if t, ok := a.status()[strconv.Itoa(sp.Connector)]; ok {
			return t.State
		}
	}
	return StatePending
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
