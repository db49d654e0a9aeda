package ocpp_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
)

// A charger whose firmware sends malformed frames after every boot: they
// are counted and answered, the connection stays up, and a session on the
// same socket is recorded in full. Another charger is not disturbed.
func TestSimMisbehaviour_MalformedFrames(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{Misbehave: ocppsim.Misbehave{MalformedFrames: true}})
			good, _ := runSim(t, ocppsim.Config{URL: h.url(), ID: "CP02", Version: v.sim})
			eventually(t, "malformed frames counted", func() bool { return counter(h, "CP01", "rejected_frames") >= 5 })
			sessionSurvives(t, h, sim)
			if n := counter(h, "CP01", "replaced_connections"); n != 0 {
				t.Errorf("connection replaced %d times; malformed frames must not cost the socket", n)
			}
			eventually(t, "the other charger works", func() bool {
				c, _ := connector(h, "CP02", 1)
				return good.Connected() && c.Online && c.Status == "Available"
			})
			if n := counter(h, "CP02", "rejected_frames"); n != 0 {
				t.Errorf("CP02 rejected_frames = %d", n)
			}
		})
	}
}

// A second socket with the same id while the first is alive: the newer one
// wins each time, the real charger reconnects and takes over again, and
// nothing it queued meanwhile is lost.
func TestSimMisbehaviour_DuplicateConnection(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			// A request in flight on a replaced socket is never answered; the
			// charger gives up on it after RequestTimeout and resends it.
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{RequestTimeout: time.Second, Misbehave: ocppsim.Misbehave{DuplicateConnection: true}})
			eventually(t, "duplicate replaced, then replaced back", func() bool {
				c, _ := connector(h, "CP01", 1)
				return counter(h, "CP01", "replaced_connections") >= 2 && sim.Connected() && c.Online
			})
			sessionSurvives(t, h, sim)
		})
	}
}

// sessionSurvives runs a session with a limit on connector 1 and checks the
// service recorded it exactly.
func sessionSurvives(t *testing.T, h *harness, sim *ocppsim.ChargePoint) {
	t.Helper()
	charging(t, h, sim, 1, van)
	res, err := h.svc.SetLimit(context.Background(), "CP01", 1, ocpp.Limit{Unit: "A", Value: 12})
	if err != nil || res.Status != ocpp.LimitConfirmed {
		t.Fatalf("SetLimit = %+v, %v", res, err)
	}
	eventually(t, "car at 12 A", func() bool { return sim.Connector(1).CurrentA == 12 })
	if err := sim.Unplug(1, core.ReasonEVDisconnected); err != nil {
		t.Fatal(err)
	}
	eventually(t, "session stopped", func() bool { return len(stoppedSessions(h)) == 1 })
	if got := stoppedSessions(h)[0].Fields["energy_wh"]; got != math.Round(sim.Connector(1).EnergyWh) {
		t.Errorf("energy_wh = %v, want %v", got, math.Round(sim.Connector(1).EnergyWh))
	}
}
