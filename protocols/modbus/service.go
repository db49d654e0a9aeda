package modbus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/sample"
)

// Sink receives samples; the edge's durable buffer implements it.
type Sink interface {
	Append(ctx context.Context, samples ...sample.Sample) error
}

// Service polls all configured Modbus devices.
type Service struct {
	log     *slog.Logger
	buses   []*bus
	devices []*device
	byID    map[string]*device
}

// New validates cfg and prepares buses and devices; nothing is dialled yet.
func New(cfg Config, sink Sink, log *slog.Logger) (*Service, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{log: log, byID: map[string]*device{}}
	buses := map[string]*bus{}
	for _, bc := range cfg.Buses {
		b := newBus(bc, log)
		buses[bc.ID] = b
		s.buses = append(s.buses, b)
	}
	for _, dc := range cfg.Devices {
		d, err := newDevice(dc, buses[dc.Bus], sink, log)
		if err != nil {
			return nil, err
		}
		s.devices = append(s.devices, d)
		s.byID[dc.ID] = d
	}
	return s, nil
}

// ObserveCycles installs a callback told how long each poll cycle took (for
// metrics and the benchmark). Call before Run.
func (s *Service) ObserveCycles(f func(deviceID string, took time.Duration)) {
	for _, d := range s.devices {
		d.observe = f
	}
}

// Run polls until ctx is done, then closes every connection.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, b := range s.buses {
		wg.Go(func() { b.run(ctx) })
	}
	for _, d := range s.devices {
		wg.Go(func() { d.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Devices reports every device's health.
func (s *Service) Devices() []health.Device {
	out := make([]health.Device, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, d.health())
	}
	return out
}

func (s *Service) inverter(id string) (*device, error) {
	d, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("modbus: no device %q", id)
	}
	if d.cfg.Kind != KindInverter || d.ss == nil {
		return nil, fmt.Errorf("modbus: %s is not a SunSpec inverter", id)
	}
	return d, nil
}

// SetProductionLimit curtails an inverter to pct (0-100) of its maximum power.
// It writes model 704 (else 123) with a revert timeout, reads the value back
// and keeps refreshing it before the timeout until cleared. Requests go
// through the bus owner like any poll; Run must be running.
func (s *Service) SetProductionLimit(ctx context.Context, deviceID string, pct float64) error {
	if pct < 0 || pct > 100 {
		return fmt.Errorf("modbus: limit %.1f%% outside 0-100", pct)
	}
	d, err := s.inverter(deviceID)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.ss.setLimit(ctx, pct, time.Now()); err != nil {
		return fmt.Errorf("modbus: limit %s: %w", deviceID, err)
	}
	return nil
}

// SetProductionLimitW is SetProductionLimit in watts, converted with the
// inverter's WMax (model 121) or rating (model 120).
func (s *Service) SetProductionLimitW(ctx context.Context, deviceID string, watts float64) error {
	d, err := s.inverter(deviceID)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ss.smap == nil {
		if err := d.ss.discover(ctx); err != nil {
			return fmt.Errorf("modbus: limit %s: %w", deviceID, err)
		}
	}
	ref := d.ss.wmaxW
	if ref == 0 {
		ref = d.ss.ratedW
	}
	if ref <= 0 {
		return fmt.Errorf("modbus: limit %s: maximum power unknown (no model 121 or 120)", deviceID)
	}
	pct := min(100, max(0, 100*watts/ref))
	if err := d.ss.setLimit(ctx, pct, time.Now()); err != nil {
		return fmt.Errorf("modbus: limit %s: %w", deviceID, err)
	}
	return nil
}

// ClearProductionLimit lifts a curtailment and confirms it.
func (s *Service) ClearProductionLimit(ctx context.Context, deviceID string) error {
	d, err := s.inverter(deviceID)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.ss.clearLimit(ctx); err != nil {
		return fmt.Errorf("modbus: clear limit %s: %w", deviceID, err)
	}
	return nil
}
