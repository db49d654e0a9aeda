package ocpp_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/sample"
)

// A 2.0.1 station (the simulator on the library's charging-station side):
// boot, StatusNotification, TransactionEvent Started/Updated/Ended with
// meter values, a limit per EVSE that the car follows, and the session's
// energy at the end.
func TestSession201_SimulatorLifecycle(t *testing.T) {
	h, sim := setup(t, ocppsim.V201, baseConfig(), ocppsim.Config{})
	if c, _ := connector(h, "CP01", 1); c.Version != "ocpp2.0.1" {
		t.Fatalf("version %q", c.Version)
	}
	ss := charging(t, h, sim, 1, van)
	charging(t, h, sim, 2, van2)
	if ss.Group != "fleet" || ss.Departure != "07:30" || ss.TransactionID != sim.Connector(1).TxID {
		t.Errorf("session %+v", ss)
	}
	eventually(t, "TransactionEvent Updated readings", func() bool {
		for _, s := range meterSamples(h, "1") {
			if s.Fields["transaction_id"] == ss.TransactionID && s.Fields["current_l3_a"] == 32.0 && s.Fields["soc_pct"] != nil {
				return true
			}
		}
		return false
	})
	res, err := h.svc.SetLimit(context.Background(), "CP01", 1, ocpp.Limit{Unit: "W", Value: 4140, Phases: 1})
	if err != nil || res.Status != ocpp.LimitConfirmed {
		t.Fatalf("SetLimit = %+v, %v", res, err)
	}
	eventually(t, "EVSE 1 car follows 18 A on one phase", func() bool { return math.Abs(sim.Connector(1).CurrentA-18) < 0.01 })
	if a := sim.Connector(2).CurrentA; a != 32 {
		t.Errorf("EVSE 2 draws %v A; the limit was for EVSE 1 only", a)
	}
	eventually(t, "reading reflects the limit", func() bool {
		c, _ := connector(h, "CP01", 1)
		return math.Abs(c.PowerW-4140) < 1 && c.CurrentA[1] == 0
	})
	if err := sim.Unplug(1, core.ReasonEVDisconnected); err != nil {
		t.Fatal(err)
	}
	eventually(t, "session stopped", func() bool { return len(stoppedSessions(h)) == 1 })
	got := stoppedSessions(h)[0]
	if got.Fields["transaction_id"] != ss.TransactionID || got.Fields["stop_reason"] != "EVDisconnected" ||
		got.Fields["energy_wh"] != math.Round(sim.Connector(1).EnergyWh) || got.Tags["group"] != "fleet" {
		t.Errorf("stopped %v %v, want %v Wh", got.Tags, got.Fields, math.Round(sim.Connector(1).EnergyWh))
	}
	eventually(t, "EVSE 1 free, EVSE 2 still charging", func() bool {
		c1, _ := connector(h, "CP01", 1)
		c2, _ := connector(h, "CP01", 2)
		return c1.Status == "Available" && c1.Session == nil && c2.Status == "Charging" && c2.Session != nil
	})
}

// The daemon restarts while a 2.0.1 station charges: the station queues its
// TransactionEvents, and Ended after the restart closes the persisted
// session with the energy between the Started and Ended registers.
func TestRestartMidSession201(t *testing.T) {
	db, rec := openDB(t), &recorder{}
	cfg := baseConfig()
	h1 := start(t, cfg, db, rec)
	addr := h1.svc.Addr().String()
	sim, _ := runSim(t, ocppsim.Config{URL: h1.url(), ID: "CP01", Version: ocppsim.V201, Connectors: 2})
	eventually(t, "online", func() bool { c, _ := connector(h1, "CP01", 2); return c.Online && c.Status == "Available" })
	ss := charging(t, h1, sim, 2, van)

	h1.stop()
	eventually(t, "station notices", func() bool { return !sim.Connected() })
	eventually(t, "events queue up offline", func() bool { return sim.Queued() >= 2 })
	offlineFrom := time.Now()
	time.Sleep(300 * time.Millisecond)
	if err := sim.Unplug(2, core.ReasonLocal); err != nil {
		t.Fatal(err)
	}
	energy := math.Round(sim.Connector(2).EnergyWh)

	cfg.Listen = addr
	h2 := start(t, cfg, db, rec)
	if c, _ := connector(h2, "CP01", 2); c.Session == nil || c.Session.TransactionID != ss.TransactionID {
		t.Fatalf("after restart EVSE 2 session = %+v, want open %s", c.Session, ss.TransactionID)
	}
	eventually(t, "queue drained", func() bool { return sim.Connected() && sim.Queued() == 0 })
	eventually(t, "session closed", func() bool { return len(stoppedSessions(h2)) == 1 })
	got := stoppedSessions(h2)[0]
	if got.Fields["transaction_id"] != ss.TransactionID || got.Fields["energy_wh"] != energy || got.Fields["stop_reason"] != "Local" {
		t.Errorf("stopped %v, want tx %s energy %v", got.Fields, ss.TransactionID, energy)
	}
	old := rec.Find(func(s sample.Sample) bool {
		return s.Measurement == "evse" && s.Fields["transaction_id"] == ss.TransactionID && s.Time.Before(offlineFrom) && s.Time.After(offlineFrom.Add(-10*time.Second))
	})
	if len(old) == 0 {
		t.Error("no readings timestamped in the offline window")
	}
	if c, _ := connector(h2, "CP01", 2); c.Session != nil || c.Status != "Available" {
		t.Errorf("after replay: %+v", c)
	}
}
