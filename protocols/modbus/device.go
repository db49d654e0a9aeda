package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus/sunspec"
	"github.com/polis-edge/polis/protocols/modbus/templates"
	"github.com/polis-edge/polis/protocols/sample"
)

// pollError carries the health state a failed poll puts the device in.
type pollError struct {
	state health.State
	err   error
}

func (e *pollError) Error() string { return e.err.Error() }
func (e *pollError) Unwrap() error { return e.err }

func fail(state health.State, format string, args ...any) error {
	return &pollError{state: state, err: fmt.Errorf(format, args...)}
}

// ioFail classifies a bus error: an exception is an answer (stale), anything
// else means the device could not be heard (unreachable).
func ioFail(what string, err error) error {
	st := health.Unreachable
	var g garbledError
	if sunspec.IsException(err) || errors.As(err, &g) {
		st = health.Stale // it answered, but nothing we can use
	}
	return &pollError{state: st, err: fmt.Errorf("%s: %w", what, err)}
}

// poller is what a device kind does each cycle.
type poller interface {
	poll(ctx context.Context, now time.Time) ([]sample.Sample, error)
}

// device is one unit on a bus with its own poll loop.
type device struct {
	cfg  DeviceConfig
	unit unit
	log  *slog.Logger
	sink Sink

	observe func(string, time.Duration)

	mu     sync.Mutex // serialises poll and curtailment, which share the SunSpec map
	poller poller
	ss     *sunspecDevice // nil for template devices

	hmu      sync.Mutex
	state    health.State
	since    time.Time
	lastSeen time.Time
	lastErr  string
	counters map[string]uint64
}

func newDevice(cfg DeviceConfig, b *bus, sink Sink, log *slog.Logger) (*device, error) {
	d := &device{cfg: cfg, unit: unit{bus: b, id: uint8(cfg.Unit)}, sink: sink,
		log: log.With("device", cfg.ID), counters: map[string]uint64{}, since: time.Now()}
	if cfg.SunSpec {
		d.ss = newSunspecDevice(d)
		d.poller = d.ss
		return d, nil
	}
	tpl, err := templates.Load(cfg.Template)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", cfg.ID, err)
	}
	d.poller = &templateDevice{d: d, tpl: tpl}
	return d, nil
}

func (d *device) run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		d.cycle(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cycle polls once, updates health and hands samples to the sink.
func (d *device) cycle(ctx context.Context) {
	now := time.Now()
	d.mu.Lock()
	samples, err := d.poller.poll(ctx, now)
	if err == nil && d.ss != nil {
		d.ss.refreshLimit(ctx, now)
	}
	d.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if d.observe != nil {
		d.observe(d.cfg.ID, time.Since(now))
	}
	d.count("polls", 1)
	state := health.OK
	if err != nil {
		d.count("errors", 1)
		var pe *pollError
		state = health.Unreachable
		if errors.As(err, &pe) {
			state = pe.state
		}
	}
	if ev, ok := d.setHealth(state, err, now); ok {
		samples = append(samples, ev)
	}
	if len(samples) == 0 {
		return
	}
	if err := d.sink.Append(ctx, samples...); err != nil && ctx.Err() == nil {
		d.count("sink_errors", 1)
		d.log.Error("modbus: samples not stored", "err", err, "samples", len(samples))
		return
	}
	d.count("samples", uint64(len(samples)))
}

func (d *device) count(name string, n uint64) {
	d.hmu.Lock()
	d.counters[name] += n
	d.hmu.Unlock()
}

// setHealth records the outcome and returns an event when the state changed.
func (d *device) setHealth(state health.State, err error, now time.Time) (sample.Sample, bool) {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	if state == health.OK {
		d.lastSeen = now
	} else if err != nil {
		d.lastErr = err.Error()
	}
	if state == d.state {
		return sample.Sample{}, false
	}
	prev := d.state
	d.state, d.since = state, now
	msg := fmt.Sprintf("%s %s is %s", d.cfg.Kind, d.cfg.ID, state)
	sev := sample.SeverityWarning
	switch {
	case state == health.OK:
		sev = sample.SeverityInfo
		d.log.Info("modbus device ok", "was", prev)
	case err != nil:
		msg += ": " + err.Error()
		d.log.Warn("modbus device "+string(state), "err", err)
	}
	if state == health.Misconfigured {
		sev = sample.SeverityCritical
	}
	return sample.Event(d.cfg.ID, "device_"+string(state), sev, msg, now,
		map[string]any{"previous": string(orUnknown(prev)), "protocol": "modbus"}).Distinct(string(state)), true
}

func orUnknown(s health.State) health.State {
	if s == "" {
		return "unknown"
	}
	return s
}

func (d *device) health() health.Device {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	st := d.state
	if st == "" {
		st = health.Stale // not polled yet: nothing to trust
	}
	c := make(map[string]uint64, len(d.counters))
	for k, v := range d.counters {
		c[k] = v
	}
	return health.Device{ID: d.cfg.ID, Kind: d.cfg.Kind, Protocol: "modbus", State: st,
		Since: d.since, LastSeen: d.lastSeen, LastError: d.lastErr, Counters: c}
}
