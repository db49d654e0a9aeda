package edge

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/polis-edge/polis/rules"
)

// ruleParams are the rule parameters a command may set at run time, with
// their bounds. They are applied over the config's rules section (the
// running config is never edited) and last until the daemon restarts or a
// new config is loaded.
var ruleParams = map[string]struct {
	min, max float64
	set      func(c *rules.Config, v float64)
}{
	"contracted_kw":  {0.5, 1000, func(c *rules.Config, v float64) { c.ContractedKW = v }},
	"tolerance_pct":  {0, 50, func(c *rules.Config, v float64) { c.TolerancePct = v }},
	"margin_w":       {0, 100000, func(c *rules.Config, v float64) { c.MarginW = v }},
	"fuse_a":         {0, 1000, func(c *rules.Config, v float64) { c.FuseA = v }},
	"safe_limit_a":   {0, 80, func(c *rules.Config, v float64) { c.SafeLimitA = v }},
	"pv_peak_w":      {0, 10000000, func(c *rules.Config, v float64) { c.PVPeakW = v }},
	"export_limit_w": {0, 10000000, func(c *rules.Config, v float64) { c.ExportLimitW = &v }},
}

// setRules makes cfg the running rules and the base the parameters set by
// command apply over (SIGHUP, a remote config): those overrides end here.
func (d *Daemon) setRules(cfg rules.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.rules.SetConfig(cfg); err != nil {
		return err
	}
	d.rulesBase, d.ruleOverrides = &cfg, nil
	return nil
}

// setRuleParam applies name=value over the configured rules.
func (d *Daemon) setRuleParam(name string, value *float64) error {
	if d.rules == nil || d.cfg.RulesConfig() == nil {
		return fmt.Errorf("no rules configured")
	}
	p, ok := ruleParams[name]
	if !ok {
		names := make([]string, 0, len(ruleParams))
		for n := range ruleParams {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("rule parameter %q unknown; known: %s", name, strings.Join(names, ", "))
	}
	if value == nil || math.IsNaN(*value) || *value < p.min || *value > p.max {
		return fmt.Errorf("%s: value required, %g-%g", name, p.min, p.max)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ruleOverrides == nil {
		d.ruleOverrides = map[string]float64{}
	}
	next := map[string]float64{name: *value}
	for k, v := range d.ruleOverrides {
		if k != name {
			next[k] = v
		}
	}
	cfg := *d.cfg.RulesConfig()
	if d.rulesBase != nil {
		cfg = *d.rulesBase
	}
	for k, v := range next {
		ruleParams[k].set(&cfg, v)
	}
	if err := d.rules.SetConfig(cfg); err != nil {
		return fmt.Errorf("rules refused %s=%g: %w", name, *value, err)
	}
	d.ruleOverrides = next
	return nil
}
