package ocpp_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/sample"
)

func runSim(t *testing.T, cfg ocppsim.Config) (*ocppsim.ChargePoint, context.CancelFunc) {
	t.Helper()
	if cfg.MeterInterval == 0 {
		cfg.MeterInterval = time.Second
	}
	cfg.Tick, cfg.ProfileDelay = 100*time.Millisecond, 200*time.Millisecond
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 3 * time.Second
	}
	cp, err := ocppsim.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cp.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return cp, stop
}

var van = ocppsim.Car{IdTag: "04A1B2C3", BatteryWh: 75000, SoCPct: 30, MaxCurrentA: 32, Phases: 3}

// van2 is a second fleet van: one card cannot be in two transactions at once (ConcurrentTx).
var van2 = ocppsim.Car{IdTag: "04A1B2C4", BatteryWh: 75000, SoCPct: 30, MaxCurrentA: 32, Phases: 3}

// A fleet van charges: boot, status, session, meter values, a limit the
// charger confirms and obeys, and a stop with the right energy.
func TestSession16_FullLifecycle(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	sim, _ := runSim(t, ocppsim.Config{URL: h.url(), ID: "CP01", Connectors: 2})

	eventually(t, "charger online", func() bool {
		c, ok := connector(h, "CP01", 1)
		return ok && c.Online && c.Status == "Available"
	})
	if err := sim.Plug(1, van); err != nil {
		t.Fatal(err)
	}
	eventually(t, "session open and charging", func() bool {
		c, _ := connector(h, "CP01", 1)
		return c.Session != nil && c.Status == "Charging" && c.PowerW > 0
	})
	c, _ := connector(h, "CP01", 1)
	if c.Session.Group != "fleet" || c.Session.Departure != "07:30" {
		t.Fatalf("session group/departure = %q/%q, want fleet/07:30", c.Session.Group, c.Session.Departure)
	}

	res, err := h.svc.SetLimit(context.Background(), "CP01", 1, ocpp.Limit{Unit: "A", Value: 10, Phases: 3})
	if err != nil || res.Status != ocpp.LimitConfirmed {
		t.Fatalf("SetLimit = %+v, %v; want confirmed", res, err)
	}
	eventually(t, "car follows the limit", func() bool { return math.Abs(sim.Connector(1).CurrentA-10) < 0.01 })
	eventually(t, "offered current reported back", func() bool {
		c, _ := connector(h, "CP01", 1)
		return c.OfferedA == 10 && math.Abs(c.CurrentA[0]-10) < 0.2 && c.Requested != nil && c.Requested.Status == ocpp.LimitConfirmed
	})

	eventually(t, "energy flows", func() bool { return sim.Connector(1).EnergyWh > 5 })
	if err := sim.Unplug(1, core.ReasonEVDisconnected); err != nil {
		t.Fatal(err)
	}
	eventually(t, "session stopped sample", func() bool {
		return len(h.rec.Find(measurement("session", "state", "stopped"))) == 1
	})
	stopped := h.rec.Find(measurement("session", "state", "stopped"))[0]
	want := math.Round(sim.Connector(1).EnergyWh)
	if got := stopped.Fields["energy_wh"].(float64); got != want {
		t.Errorf("session energy_wh = %v, want %v (the charger's register delta)", got, want)
	}
	if stopped.Fields["stop_reason"] != "EVDisconnected" || stopped.Tags["group"] != "fleet" || stopped.Tags[sample.TagDevice] != "CP01" {
		t.Errorf("stopped session = %+v", stopped)
	}
	if ev := h.rec.Find(func(s sample.Sample) bool { return s.Measurement == "events" && s.Tags["kind"] == "session_stopped" }); len(ev) != 1 {
		t.Errorf("session_stopped events = %d, want 1", len(ev))
	}
	evse := h.rec.Find(func(s sample.Sample) bool { _, ok := s.Fields["current_l1_a"]; return s.Measurement == "evse" && ok })
	if len(evse) == 0 {
		t.Fatal("no evse samples with current_l1_a")
	}
	for _, f := range []string{"power_w", "energy_wh", "current_l2_a", "current_l3_a", "voltage_l1_v", "offered_a", "soc_pct"} {
		if _, ok := evse[len(evse)-1].Fields[f]; !ok {
			t.Errorf("evse sample lacks %s: %v", f, evse[len(evse)-1].Fields)
		}
	}
	// The charger sends StatusNotification Available after its stop is answered.
	eventually(t, "connector available without a session", func() bool {
		c, _ = connector(h, "CP01", 1)
		return c.Session == nil && c.Status == "Available"
	})
}
