package edge

import (
	"context"
	"fmt"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/rules"
)

// buildRules builds the energy rules when the config has a rules section.
// The image is built either way: installers read it on the local API.
func (d *Daemon) buildRules() error {
	d.buildImage()
	rc := d.cfg.RulesConfig()
	if rc == nil {
		return nil
	}
	deps := rules.Deps{Image: d.image, Sink: d.sink, Log: d.log.With("service", "rules")}
	if d.ocpp != nil {
		deps.Chargers = ocppLimiter{d.ocpp}
	}
	if d.modbus != nil {
		deps.Inverters = d.modbus
	}
	if d.mqtt != nil {
		deps.Publisher = d.mqtt
	}
	r, err := rules.NewRunner(*rc, deps)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	d.rules = r
	d.meterID = rc.GridMeter
	return nil
}

// reloadRules applies a SIGHUP'd rules section to the running rules. Adding
// or removing the whole section needs a restart (the runner is built once).
func (d *Daemon) reloadRules(next config.Config, changed []string) []string {
	// The aggregate section is applied at run time too (validated with the
	// rest of next): SIGHUP and a fleet push both come through here.
	d.sink.agg.SetRules(next.Aggregate)
	rc := next.RulesConfig()
	switch {
	case d.rules == nil && rc == nil:
		return changed
	case d.rules == nil || rc == nil:
		return append(changed, "rules")
	}
	if err := d.setRules(*rc); err != nil {
		d.log.Error("SIGHUP: rules rejected, keeping the running ones", "err", err)
		return changed
	}
	d.log.Info("SIGHUP: rules reloaded", "contracted_kw", rc.ContractedKW, "alerts", len(rc.Alerts))
	return changed
}

// Rules is the running rules, nil without a rules section.
func (d *Daemon) Rules() *rules.Runner { return d.rules }

// ocppLimiter adapts the OCPP service to the rules' ChargeLimiter.
type ocppLimiter struct{ s *ocpp.Service }

func (l ocppLimiter) SetChargeLimit(ctx context.Context, id string, connector int, amps float64, phases int) (rules.Result, error) {
	res, err := l.s.SetLimit(ctx, id, connector, ocpp.Limit{Unit: "A", Value: amps, Phases: phases})
	return rules.Result{Status: string(res.Status), Detail: res.Detail}, err
}

// SetSafeDefault installs the safe limit as the charger's fail-safe default
// profile (1.6 TxDefaultProfile on connector 0, 2.0.1 on EVSE 0); the OCPP
// service re-installs it after every boot, so a charger whose edge died, or
// that rebooted while the edge was down, stays at the safe limit.
func (l ocppLimiter) SetSafeDefault(ctx context.Context, id string, amps float64) (rules.Result, error) {
	res, err := l.s.SetDefaultLimit(ctx, id, amps)
	return rules.Result{Status: string(res.Status), Detail: res.Detail}, err
}
