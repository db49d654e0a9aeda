package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/image"
	"github.com/polis-edge/polis/rules/tariff"
)

// Publisher sends a command to an MQTT device (a Tasmota or Zigbee2MQTT
// plug) when a user rule fires or clears.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// The names a user rule can read: one per measurement of the process image
// (measurement.device.field), plus `site` (the last decision) and `office`
// (open/closed, band, holiday). An unknown name is a config error.
var ruleNames = []string{"env", "grid", "pv", "evse", "session", "locker", "locker_compartment", "polis_edge", "site", "office"}

var inlineFor = regexp.MustCompile(`\s+for\s+(\S+)\s*$`)

// errDivZero: a rule dividing by zero decides nothing (and is counted).
var errDivZero = errors.New("division by zero")

// divPatch routes / and % through a checked division: expr's own returns
// +Inf, which compares greater than any threshold and would fire the rule.
type divPatch struct{}

func (divPatch) Visit(node *ast.Node) {
	if b, ok := (*node).(*ast.BinaryNode); ok && (b.Operator == "/" || b.Operator == "%") {
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "__div_" + map[string]string{"/": "q", "%": "r"}[b.Operator]},
			Arguments: []ast.Node{b.Left, b.Right}})
	}
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

func divFn(rem bool) func(p ...any) (any, error) {
	return func(p ...any) (any, error) {
		a, ok1 := num(p[0])
		b, ok2 := num(p[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("cannot divide %T by %T", p[0], p[1])
		}
		if b == 0 {
			return nil, errDivZero
		}
		if rem {
			return math.Mod(a, b), nil
		}
		return a / b, nil
	}
}

type compiled struct {
	cfg   AlertConfig
	when  *vm.Program
	clear *vm.Program
}

func compileOne(src string) (*vm.Program, error) {
	env := map[string]any{}
	for _, n := range ruleNames {
		env[n] = map[string]any{}
	}
	return expr.Compile(src, expr.Env(env), expr.AsBool(), expr.Patch(divPatch{}),
		expr.Function("__div_q", divFn(false)), expr.Function("__div_r", divFn(true)))
}

// splitFor accepts `expr for 10m` in `when` as the issue writes rules.
func splitFor(a AlertConfig) (AlertConfig, error) {
	if m := inlineFor.FindStringSubmatch(a.When); m != nil {
		d, err := time.ParseDuration(m[1])
		if err != nil {
			return a, fmt.Errorf("for %q: %v", m[1], err)
		}
		a.When, a.For = strings.TrimSpace(a.When[:len(a.When)-len(m[0])]), d
	}
	return a, nil
}

func compileAlerts(as []AlertConfig) ([]compiled, error) {
	var out []compiled
	var errs []string
	for i, a := range as {
		key := fmt.Sprintf("rules.alerts[%d]", i)
		a, err := splitFor(a)
		if err != nil {
			errs = append(errs, key+".when: "+err.Error())
			continue
		}
		c := compiled{cfg: a}
		if c.when, err = compileOne(a.When); err != nil {
			errs = append(errs, fmt.Sprintf("%s.when (%s): %v", key, a.Name, oneLine(err)))
		}
		if a.Clear != "" {
			if c.clear, err = compileOne(a.Clear); err != nil {
				errs = append(errs, fmt.Sprintf("%s.clear (%s): %v", key, a.Name, oneLine(err)))
			}
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n  "))
	}
	return out, nil
}

func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func validateAlerts(as []AlertConfig) []string {
	var errs []string
	names := map[string]bool{}
	for i, a := range as {
		key := fmt.Sprintf("rules.alerts[%d]", i)
		if a.Name == "" {
			errs = append(errs, key+".name: must not be empty")
		} else if names[a.Name] {
			errs = append(errs, fmt.Sprintf("%s.name: duplicate %q", key, a.Name))
		}
		names[a.Name] = true
		if a.When == "" {
			errs = append(errs, key+".when: must not be empty")
		}
		switch a.Severity {
		case "", sample.SeverityInfo, sample.SeverityWarning, sample.SeverityCritical:
		default:
			errs = append(errs, fmt.Sprintf("%s.severity: want info, warning or critical, got %q", key, a.Severity))
		}
		if a.Action != nil && a.Action.Topic == "" {
			errs = append(errs, key+".action.topic: must not be empty")
		}
	}
	if len(errs) == 0 {
		if _, err := compileAlerts(as); err != nil {
			errs = append(errs, strings.Split(err.Error(), "\n  ")...)
		}
	}
	return errs
}

// AlertState is a user rule as the API shows it.
type AlertState struct {
	Name      string    `json:"name"`
	Firing    bool      `json:"firing"`
	Since     time.Time `json:"since,omitzero"` // condition true since (pending or firing)
	Errors    uint64    `json:"errors"`
	LastError string    `json:"last_error,omitempty"`
}

type alertRun struct {
	compiled
	st       AlertState
	clearing time.Time // condition false since, while firing
}

type alertSet struct {
	rules []*alertRun
	pub   chan pubJob
}

type pubJob struct {
	topic   string
	payload []byte
}

func (s *alertSet) reload(cs []compiled) *alertSet {
	next := &alertSet{pub: s.pub}
	old := map[string]*alertRun{}
	for _, r := range s.rules {
		old[r.cfg.Name] = r
	}
	for _, c := range cs {
		r := &alertRun{compiled: c, st: AlertState{Name: c.cfg.Name}}
		if o := old[c.cfg.Name]; o != nil && o.cfg.When == c.cfg.When {
			r.st, r.clearing = o.st, o.clearing // same rule: keep its timers
		}
		next.rules = append(next.rules, r)
	}
	return next
}

func (s *alertSet) states() []AlertState {
	out := []AlertState{}
	for _, r := range s.rules {
		out = append(out, r.st)
	}
	return out
}

// ruleEnv exposes the snapshot to expressions.
func ruleEnv(snap *image.Snapshot, now time.Time, cfg Config, d *Decision) map[string]any {
	env := map[string]any{}
	for _, n := range ruleNames {
		env[n] = map[string]any{}
	}
	for m, byDev := range snap.Values {
		if _, ok := env[m]; !ok {
			continue
		}
		mm := env[m].(map[string]any)
		for dev, fields := range byDev {
			f := make(map[string]any, len(fields))
			for k, v := range fields {
				f[k] = v.V
			}
			mm[dev] = f
		}
	}
	open := officeOpen(cfg.OfficeHours, now)
	env["office"] = map[string]any{"open": open, "closed": !open, "band": tariff.At(now).String(),
		"holiday": tariff.Holiday(now), "hour": now.In(tariff.Rome).Hour()}
	env["site"] = map[string]any{"import_w": d.ImportW, "available_w": d.AvailableW, "pv_w": d.PVW,
		"failsafe": d.Failsafe, "meter_ok": d.MeterOK, "budget_w": d.BudgetW}
	return env
}

func officeOpen(h OfficeHours, now time.Time) bool {
	t := now.In(tariff.Rome)
	if !tariff.WorkingDay(t) {
		return false
	}
	span := h.Weekdays
	if t.Weekday() == time.Saturday {
		span = h.Saturday
	}
	from, to, err := parseSpan(span)
	if err != nil {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	return m >= from && m < to
}

func eval(p *vm.Program, env map[string]any) (bool, error) {
	out, err := expr.Run(p, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("result %T, not bool", out)
	}
	return b, nil
}

// eval runs every user rule: `when` true for `for` fires it, false (or
// `clear` true) for `for` clears it. An error decides nothing: the rule
// keeps its state, the error is counted.
func (s *alertSet) eval(snap *image.Snapshot, now time.Time, cfg Config, pub Publisher, log *slog.Logger, d *Decision) []sample.Sample {
	if len(s.rules) == 0 {
		return nil
	}
	env := ruleEnv(snap, now, cfg, d)
	var out []sample.Sample
	for _, r := range s.rules {
		on, err := eval(r.when, env)
		if err == nil && r.clear != nil && r.st.Firing {
			var cl bool
			if cl, err = eval(r.clear, env); err == nil {
				on = !cl
			}
		}
		if err != nil {
			r.st.Errors++
			r.st.LastError = oneLine(err)
			d.Errors++
			continue
		}
		r.st.LastError = ""
		switch {
		case on && !r.st.Firing:
			if r.st.Since.IsZero() {
				r.st.Since = now
			}
			if now.Sub(r.st.Since) >= r.cfg.For {
				r.st.Firing = true
				out = append(out, r.event("user_rule_fired", r.cfg.Severity, now))
				s.publish(r.cfg.Action, false, log)
			}
		case !on && !r.st.Firing:
			r.st.Since = time.Time{}
		case on && r.st.Firing:
			r.clearing = time.Time{}
		case !on && r.st.Firing:
			if r.clearing.IsZero() {
				r.clearing = now
			}
			if now.Sub(r.clearing) >= r.cfg.For {
				r.st.Firing, r.st.Since, r.clearing = false, time.Time{}, time.Time{}
				out = append(out, r.event("user_rule_cleared", sample.SeverityInfo, now))
				s.publish(r.cfg.Action, true, log)
			}
		}
	}
	return out
}

func (r *alertRun) event(kind, severity string, now time.Time) sample.Sample {
	msg := r.cfg.Message
	if msg == "" {
		msg = r.cfg.Name + ": " + r.cfg.When
	}
	if kind == "user_rule_cleared" {
		msg = "cleared: " + msg
	}
	return sample.Event(EventDevice, kind, severity, msg, now, map[string]any{"rule": r.cfg.Name}).Distinct(kind + "/" + r.cfg.Name)
}

// publish queues an action for the publisher goroutine: the cycle never
// waits on the broker. A full queue drops the command, logged.
func (s *alertSet) publish(a *ActionConfig, clear bool, log *slog.Logger) {
	if a == nil || s.pub == nil {
		return
	}
	payload := a.Payload
	if clear {
		if a.ClearPayload == "" {
			return
		}
		payload = a.ClearPayload
	}
	select {
	case s.pub <- pubJob{a.Topic, []byte(payload)}:
	default:
		log.Warn("rules: action queue full, command dropped", "topic", a.Topic)
	}
}

// publisher sends queued actions, one at a time.
func publisher(ctx context.Context, p Publisher, jobs <-chan pubJob, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-jobs:
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := p.Publish(cctx, j.topic, j.payload); err != nil {
				log.Warn("rules: action publish failed", "topic", j.topic, "err", err)
			}
			cancel()
		}
	}
}
