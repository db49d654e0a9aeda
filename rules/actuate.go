package rules

import (
	"context"
	"math"
	"sync"
	"time"
)

// What the rules need from the devices: small consumer-side interfaces, as
// evcc's api package has them, so the rules never import a protocol. The edge
// adapts its OCPP and Modbus drivers to them.
type (
	// ChargeLimiter sets a connector's limit (amps per phase, 0 pauses)
	// and installs the safe default that a charger keeps when the edge dies.
	ChargeLimiter interface {
		SetChargeLimit(ctx context.Context, chargerID string, connector int, amps float64, phases int) (Result, error)
		SetSafeDefault(ctx context.Context, chargerID string, amps float64) (Result, error)
	}
	// ProductionLimiter curtails an inverter (watts < 0 clears the limit).
	ProductionLimiter interface {
		SetProductionLimitW(ctx context.Context, deviceID string, watts float64) error
		ClearProductionLimit(ctx context.Context, deviceID string) error
	}
)

// Result is what became of a setpoint.
type Result struct {
	Status string `json:"status"` // pending, confirmed, rejected, timed_out, offline, error
	Detail string `json:"detail,omitempty"`
}

// Setpoint states.
const (
	StatePending   = "pending"
	StateConfirmed = "confirmed"
	StateRejected  = "rejected"
	StateTimedOut  = "timed_out"
	StateOffline   = "offline"
	StateError     = "error"
)

// Tracked is one resource's setpoint as the next cycle sees it.
type Tracked struct {
	Want   float64   `json:"want"`
	Phases int       `json:"phases,omitempty"`
	Sent   float64   `json:"sent"`
	State  string    `json:"state"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// rejectHold: a value a device rejected is not sent again for this long;
// retryAfter: a timed-out or offline one is retried after this long. Both
// keep a broken charger from getting a request storm every cycle.
const (
	rejectHold = time.Minute
	retryAfter = 5 * time.Second
)

// actuator owns one physical resource (a charger or an inverter): one
// goroutine sends its setpoints one at a time, so the cycle never blocks
// and two cycles never race on the same device.
type actuator struct {
	send    func(ctx context.Context, key string, t Tracked) Result
	timeout time.Duration
	now     func() time.Time
	wake    chan struct{}

	mu      sync.Mutex
	tracked map[string]*Tracked // sub-resource (connector) → state
}

func newActuator(send func(context.Context, string, Tracked) Result, timeout time.Duration, now func() time.Time) *actuator {
	return &actuator{send: send, timeout: timeout, now: now, wake: make(chan struct{}, 1), tracked: map[string]*Tracked{}}
}

// want records a setpoint; the goroutine sends it when it differs from what
// the device has, honouring the reject hold and retry pause.
func (a *actuator) want(key string, amps float64, phases int) {
	a.mu.Lock()
	t := a.tracked[key]
	if t == nil {
		t = &Tracked{Sent: math.NaN(), State: StatePending}
		a.tracked[key] = t
	}
	changed := math.Abs(t.Want-amps) > 0.05 || t.Phases != phases
	t.Want, t.Phases = amps, phases
	a.mu.Unlock()
	if changed || a.due(key) {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// due reports whether key needs a send now.
func (a *actuator) due(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tracked[key]
	if t == nil {
		return false
	}
	same := !math.IsNaN(t.Sent) && math.Abs(t.Sent-t.Want) <= 0.05
	switch {
	case same && t.State == StateConfirmed:
		return false
	case same && t.State == StateRejected:
		return a.now().Sub(t.At) >= rejectHold
	case same && (t.State == StateTimedOut || t.State == StateOffline || t.State == StateError):
		return a.now().Sub(t.At) >= retryAfter
	case same && t.State == StatePending:
		return false // in flight
	}
	return true
}

func (a *actuator) forget(key string) {
	a.mu.Lock()
	delete(a.tracked, key)
	a.mu.Unlock()
}

func (a *actuator) status() map[string]Tracked {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]Tracked, len(a.tracked))
	for k, t := range a.tracked {
		out[k] = *t
	}
	return out
}

func (a *actuator) run(ctx context.Context) {
	tick := time.NewTicker(retryAfter)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-tick.C:
		}
		for {
			key, t, ok := a.next()
			if !ok {
				break
			}
			cctx, cancel := context.WithTimeout(ctx, a.timeout)
			res := a.send(cctx, key, t)
			cancel()
			if ctx.Err() != nil {
				return
			}
			a.mu.Lock()
			if cur := a.tracked[key]; cur != nil {
				cur.State, cur.Detail, cur.At = res.Status, res.Detail, a.now()
			}
			a.mu.Unlock()
		}
	}
}

// next picks a due setpoint and marks it in flight.
func (a *actuator) next() (string, Tracked, bool) {
	a.mu.Lock()
	keys := make([]string, 0, len(a.tracked))
	for k := range a.tracked {
		keys = append(keys, k)
	}
	a.mu.Unlock()
	for _, k := range keys {
		if !a.due(k) {
			continue
		}
		a.mu.Lock()
		t := a.tracked[k]
		if t == nil {
			a.mu.Unlock()
			continue
		}
		t.Sent, t.State, t.At = t.Want, StatePending, a.now()
		v := *t
		a.mu.Unlock()
		return k, v, true
	}
	return "", Tracked{}, false
}
