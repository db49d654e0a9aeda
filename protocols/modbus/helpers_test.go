package modbus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

// recorder is the shared in-memory stand-in for the edge's durable buffer,
// with the queries these tests need.
type recorder struct{ testserver.Recorder }

// last returns the newest sample of measurement m for device dev with the
// given extra tags (and no others), or nil.
func (r *recorder) last(m, dev string, tags ...string) *sample.Sample {
	got := r.Find(func(s sample.Sample) bool {
		if s.Measurement != m || s.Tags[sample.TagDevice] != dev {
			return false
		}
		for j := 0; j+1 < len(tags); j += 2 {
			if s.Tags[tags[j]] != tags[j+1] {
				return false
			}
		}
		return len(tags) > 0 || len(s.Tags) == 1
	})
	if len(got) == 0 {
		return nil
	}
	return &got[len(got)-1]
}

func (r *recorder) events(dev, kind string) []sample.Sample {
	return r.Find(func(s sample.Sample) bool {
		return s.Measurement == sample.MeasurementEvents && s.Tags[sample.TagDevice] == dev && s.Tags["kind"] == kind
	})
}

func (r *recorder) count(m, dev string) int {
	return len(r.Find(func(s sample.Sample) bool { return s.Measurement == m && s.Tags[sample.TagDevice] == dev }))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitFor is the project's one wait helper (protocols/testserver).
var waitFor = testserver.WaitFor

// noon is a clear June noon in Rome: the inverter produces well.
const noon = "2025-06-20T13:00:00+02:00"

// startSim starts a simulator with the default devices at a fixed clock.
func startSim(t *testing.T, ctx context.Context, mod func(*modbussim.Config)) *modbussim.Sim {
	t.Helper()
	cfg := modbussim.DefaultConfig()
	cfg.Clock, cfg.Seed = noon, 7
	if mod != nil {
		mod(&cfg)
	}
	sim, err := modbussim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return sim
}

// deviceCfg is a device on its own TCP bus.
type deviceCfg struct {
	id, kind, template, url string
	unit                    int
	maxPower                float64
}

func config(devs ...deviceCfg) modbus.Config {
	var c modbus.Config
	for _, d := range devs {
		c.Buses = append(c.Buses, modbus.BusConfig{ID: "bus-" + d.id, URL: d.url, Timeout: 300 * time.Millisecond})
		c.Devices = append(c.Devices, modbus.DeviceConfig{ID: d.id, Bus: "bus-" + d.id, Unit: max(d.unit, 1),
			Kind: d.kind, Poll: 100 * time.Millisecond, SunSpec: d.template == "", Template: d.template, MaxPowerW: d.maxPower})
	}
	return c
}

func startService(t *testing.T, ctx context.Context, cfg modbus.Config) (*modbus.Service, *recorder) {
	t.Helper()
	rec := &recorder{}
	svc, err := modbus.New(cfg, rec, quiet())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("service did not stop")
		}
	})
	return svc, rec
}

func deviceHealth(svc *modbus.Service, id string) health.Device {
	for _, d := range svc.Devices() {
		if d.ID == id {
			return d
		}
	}
	return health.Device{}
}

func tcp(addr string) string { return fmt.Sprintf("tcp://%s", addr) }
