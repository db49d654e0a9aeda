package rules

import (
	"fmt"
	"strconv"
	"time"
)

// Allocation is what the local API serves: the last decision and what
// became of each setpoint.
type Allocation struct {
	Decision
	Actuation map[string]map[string]Tracked `json:"actuation"` // device → connector (0 = default profile) → state
	Modes     map[string]string             `json:"modes"`     // operator-set modes
	Overrides map[string]Override           `json:"overrides"`
	Cycles    uint64                        `json:"cycles"`
	Errors    uint64                        `json:"errors_total"`
	Alerts    []AlertState                  `json:"alerts"`
}

// Allocation returns the current allocation.
func (r *Runner) Allocation() Allocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := Allocation{Decision: r.last, Actuation: map[string]map[string]Tracked{}, Modes: copyMap(r.modes),
		Overrides: map[string]Override{}, Cycles: r.cycles, Errors: r.errors, Alerts: r.alerts.states()}
	for id, act := range r.acts {
		a.Actuation[id] = act.status()
	}
	for k, v := range r.overrides {
		a.Overrides[k] = v
	}
	if a.Setpoints == nil {
		a.Setpoints = []Setpoint{}
	}
	return a
}

// SetMode sets a charger's mode until the daemon restarts ("" returns it to
// the config's). It applies from the next cycle.
func (r *Runner) SetMode(chargerID, mode string) error {
	if mode != "" && !validMode(mode) {
		return fmt.Errorf("mode %q: want off, now, minpv or pv", mode)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if mode == "" {
		delete(r.modes, chargerID)
	} else {
		r.modes[chargerID] = mode
	}
	return nil
}

// SetOverride sets a temporary limit on a connector for d (0 clears it).
func (r *Runner) SetOverride(chargerID string, connector int, amps float64, d time.Duration, by string) (Override, error) {
	if amps < 0 || amps > 80 {
		return Override{}, fmt.Errorf("amps %v: must be 0-80", amps)
	}
	if d < 0 || d > 24*time.Hour {
		return Override{}, fmt.Errorf("duration %s: must be 0-24h", d)
	}
	key := chargerID + "/" + strconv.Itoa(connector)
	r.mu.Lock()
	defer r.mu.Unlock()
	if d == 0 {
		delete(r.overrides, key)
		return Override{}, nil
	}
	ov := Override{Amps: amps, Until: r.d.Now().Add(d), By: by}
	r.overrides[key] = ov
	return ov, nil
}
