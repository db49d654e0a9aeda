package ocpp_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/sample"
)

// versions runs a test body against a simulator of each OCPP version.
var versions = []struct{ name, sim string }{{"1.6", ocppsim.V16}, {"2.0.1", ocppsim.V201}}

// per picks the version's word where 1.6 and 2.0.1 disagree.
func per(version, v16, v201 string) string {
	if version == ocppsim.V201 {
		return v201
	}
	return v16
}

// setup starts a service and a CP01 simulator (two connectors) of version
// and waits until the service has it online with both connectors Available.
func setup(t *testing.T, version string, cfg ocpp.Config, sc ocppsim.Config) (*harness, *ocppsim.ChargePoint) {
	t.Helper()
	h := start(t, cfg, openDB(t), &recorder{})
	sc.URL, sc.ID, sc.Version, sc.Connectors = h.url(), "CP01", version, 2
	sim, _ := runSim(t, sc)
	eventually(t, "charger online", func() bool {
		c1, _ := connector(h, "CP01", 1)
		c2, _ := connector(h, "CP01", 2)
		return c1.Online && c1.Status == "Available" && c2.Status == "Available"
	})
	return h, sim
}

// charging plugs car into connector n and waits until the service sees the
// session charging.
func charging(t *testing.T, h *harness, sim *ocppsim.ChargePoint, n int, car ocppsim.Car) *ocpp.Session {
	t.Helper()
	if err := sim.Plug(n, car); err != nil {
		t.Fatal(err)
	}
	var ss *ocpp.Session
	eventually(t, "session charging", func() bool {
		c, _ := connector(h, "CP01", n)
		ss = c.Session
		return ss != nil && c.Status == "Charging" && sim.Connector(n).CurrentA > 0
	})
	return ss
}

func stoppedSessions(h *harness) []sample.Sample {
	return h.rec.Find(measurement("session", "state", "stopped"))
}

// meterSamples are the evse samples with a power reading for a connector.
func meterSamples(h *harness, n string) []sample.Sample {
	return h.rec.Find(func(s sample.Sample) bool {
		_, ok := s.Fields["power_w"]
		return s.Measurement == "evse" && s.Tags["connector"] == n && ok
	})
}

func TestCommands_RemoteStartStop(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			ctx := context.Background()
			st, err := h.svc.RemoteStart(ctx, "CP01", 2, "04A1B2C3")
			if err != nil || st != "Accepted" {
				t.Fatalf("RemoteStart = %q, %v", st, err)
			}
			var ss *ocpp.Session
			eventually(t, "remote session charging", func() bool {
				c, _ := connector(h, "CP01", 2)
				ss = c.Session
				return ss != nil && c.Status == "Charging" && sim.Connector(2).CurrentA > 0
			})
			if ss.Group != "fleet" || ss.IdTag != "04A1B2C3" || ss.TransactionID != sim.Connector(2).TxID {
				t.Errorf("session %+v, want fleet tag and the charger's tx %q", ss, sim.Connector(2).TxID)
			}
			if st, _ := h.svc.RemoteStart(ctx, "CP01", 2, "04A1B2C3"); st != "Rejected" {
				t.Errorf("RemoteStart on a busy connector = %q, want Rejected", st)
			}
			if st, _ := h.svc.RemoteStop(ctx, "CP01", "999999"); st != "Rejected" {
				t.Errorf("RemoteStop of an unknown transaction = %q, want Rejected", st)
			}
			eventually(t, "energy flows", func() bool { return sim.Connector(2).EnergyWh > 2 })
			if st, err := h.svc.RemoteStop(ctx, "CP01", ss.TransactionID); err != nil || st != "Accepted" {
				t.Fatalf("RemoteStop = %q, %v", st, err)
			}
			eventually(t, "session stopped", func() bool { return len(stoppedSessions(h)) == 1 })
			got := stoppedSessions(h)[0]
			if got.Fields["transaction_id"] != ss.TransactionID || got.Fields["stop_reason"] != "Remote" ||
				got.Fields["energy_wh"] != math.Round(sim.Connector(2).EnergyWh) {
				t.Errorf("stopped %v, want Remote with %v Wh", got.Fields, math.Round(sim.Connector(2).EnergyWh))
			}
			eventually(t, "connector free", func() bool { c, _ := connector(h, "CP01", 2); return c.Status == "Available" && c.Session == nil })
		})
	}
}

func TestCommands_ChangeAvailability(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			ctx := context.Background()
			if st, err := h.svc.ChangeAvailability(ctx, "CP01", 2, false); err != nil || st != "Accepted" {
				t.Fatalf("Inoperative = %q, %v", st, err)
			}
			eventually(t, "connector 2 unavailable", func() bool { c, _ := connector(h, "CP01", 2); return c.Status == "Unavailable" })
			if err := sim.Plug(2, van); err == nil {
				t.Error("a car could start on an inoperative connector")
			}
			charging(t, h, sim, 1, van)
			if st, _ := h.svc.ChangeAvailability(ctx, "CP01", 1, false); st != "Scheduled" {
				t.Errorf("Inoperative during a session = %q, want Scheduled", st)
			}
			if c, _ := connector(h, "CP01", 1); c.Session == nil || sim.Connector(1).CurrentA == 0 {
				t.Error("a scheduled change stopped the running session")
			}
			if st, _ := h.svc.ChangeAvailability(ctx, "CP01", 2, true); st != "Accepted" {
				t.Errorf("Operative = %q", st)
			}
			eventually(t, "connector 2 available again", func() bool { c, _ := connector(h, "CP01", 2); return c.Status == "Available" })
		})
	}
}

// The meter sample interval the service configures is what the charger
// uses: with an hour nothing is sampled; set to 1 s, samples flow.
func TestCommands_ConfigurationDrivesMeterInterval(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.MeterSampleInterval = time.Hour
			h, sim := setup(t, v.sim, cfg, ocppsim.Config{MeterInterval: 5 * time.Second})
			ctx := context.Background()
			key := per(v.sim, "MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval")
			eventually(t, "service pushed its interval after boot", func() bool {
				got, err := h.svc.GetConfiguration(ctx, "CP01", []string{key})
				return err == nil && got[key] == "3600"
			})
			charging(t, h, sim, 1, van)
			time.Sleep(500 * time.Millisecond) // several ticks of the charger's clock
			if n := len(meterSamples(h, "1")); n != 0 {
				t.Fatalf("%d meter samples with a 1 h interval", n)
			}
			if st, err := h.svc.ChangeConfiguration(ctx, "CP01", key, "1"); err != nil || st != "Accepted" {
				t.Fatalf("ChangeConfiguration = %q, %v", st, err)
			}
			if got, _ := h.svc.GetConfiguration(ctx, "CP01", []string{key}); got[key] != "1" {
				t.Errorf("read back %v, want 1", got)
			}
			eventually(t, "samples every second", func() bool { return len(meterSamples(h, "1")) >= 3 })
			last := meterSamples(h, "1")[len(meterSamples(h, "1"))-1]
			if last.Fields["power_w"].(float64) <= 0 || last.Fields["transaction_id"] == nil {
				t.Errorf("meter sample %v lacks power or transaction", last.Fields)
			}
			for _, tc := range []struct{ key, want string }{
				{per(v.sim, "NumberOfConnectors", "ChargingStation.EVSECount"), "Rejected"},
				{per(v.sim, "NoSuchKey", "NoSuchCtrlr.Thing"), per(v.sim, "NotSupported", "UnknownComponent")},
				{key, "Rejected"}, // value "zero"
			} {
				val := "3"
				if tc.key == key {
					val = "zero"
				}
				if st, _ := h.svc.ChangeConfiguration(ctx, "CP01", tc.key, val); st != tc.want {
					t.Errorf("ChangeConfiguration(%s=%s) = %q, want %q", tc.key, val, st, tc.want)
				}
			}
		})
	}
}

func TestCommands_TriggerMessage(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.MeterSampleInterval = time.Hour // only triggered readings arrive
			h, sim := setup(t, v.sim, cfg, ocppsim.Config{MeterInterval: time.Hour})
			ctx := context.Background()
			charging(t, h, sim, 1, van)
			if st, err := h.svc.Trigger(ctx, "CP01", 1, "MeterValues"); err != nil || st != "Accepted" {
				t.Fatalf("Trigger MeterValues = %q, %v", st, err)
			}
			eventually(t, "triggered reading", func() bool { return len(meterSamples(h, "1")) == 1 })
			got := meterSamples(h, "1")[0]
			if got.Fields["power_w"].(float64) <= 0 || got.Tags[sample.TagDevice] != "CP01" {
				t.Errorf("triggered sample %+v", got)
			}
			if n := len(meterSamples(h, "2")); n != 0 {
				t.Errorf("connector 2 sent %d readings, only 1 was asked", n)
			}
			statuses := func() int {
				return len(h.rec.Find(func(s sample.Sample) bool {
					_, ok := s.Fields["status"]
					return s.Measurement == "evse" && s.Tags["connector"] == "2" && ok
				}))
			}
			before := statuses()
			if st, _ := h.svc.Trigger(ctx, "CP01", 2, "StatusNotification"); st != "Accepted" {
				t.Errorf("Trigger StatusNotification = %q", st)
			}
			eventually(t, "triggered status", func() bool { return statuses() == before+1 })
			if st, _ := h.svc.Trigger(ctx, "CP01", 0, per(v.sim, "DiagnosticsStatusNotification", "LogStatusNotification")); st != "NotImplemented" {
				t.Errorf("Trigger of an unsupported message = %q, want NotImplemented", st)
			}
		})
	}
}

// A hard reset ends the running session with the reset reason and the
// charger boots again.
func TestCommands_Reset(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			ctx := context.Background()
			ss := charging(t, h, sim, 1, van)
			if st, err := h.svc.Reset(ctx, "CP01", true); err != nil || st != "Accepted" {
				t.Fatalf("Reset = %q, %v", st, err)
			}
			eventually(t, "session ended by the reset", func() bool { return len(stoppedSessions(h)) == 1 })
			if got := stoppedSessions(h)[0]; got.Fields["transaction_id"] != ss.TransactionID ||
				got.Fields["stop_reason"] != per(v.sim, "HardReset", "ImmediateReset") {
				t.Errorf("stopped %v", got.Fields)
			}
			eventually(t, "charger booted again", func() bool {
				return len(h.rec.Find(func(s sample.Sample) bool { return s.Tags["kind"] == "charger_boot" })) == 2 && sim.Boots() == 2
			})
			eventually(t, "back in service", func() bool { c, _ := connector(h, "CP01", 1); return c.Online && c.Status == "Available" })
		})
	}
}

func TestCommands_UnlockConnector(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			ctx := context.Background()
			if st, err := h.svc.Unlock(ctx, "CP01", 2); err != nil || st != "Unlocked" {
				t.Errorf("Unlock free connector = %q, %v", st, err)
			}
			if st, _ := h.svc.Unlock(ctx, "CP01", 9); st != per(v.sim, "NotSupported", "UnknownConnector") {
				t.Errorf("Unlock connector 9 = %q", st)
			}
			charging(t, h, sim, 1, van)
			st, _ := h.svc.Unlock(ctx, "CP01", 1)
			if v.sim == ocppsim.V201 {
				// 2.0.1 refuses to unlock under an authorised transaction.
				if st != "OngoingAuthorizedTransaction" {
					t.Errorf("Unlock during a 2.0.1 transaction = %q", st)
				}
				if c, _ := connector(h, "CP01", 1); c.Session == nil {
					t.Error("session ended although the unlock was refused")
				}
				return
			}
			// 1.6 ends the transaction first, then unlocks.
			if st != "Unlocked" {
				t.Errorf("Unlock during a 1.6 transaction = %q", st)
			}
			eventually(t, "session ended by unlock", func() bool { return len(stoppedSessions(h)) == 1 })
			if r := stoppedSessions(h)[0].Fields["stop_reason"]; r != "UnlockCommand" {
				t.Errorf("stop_reason = %v, want UnlockCommand", r)
			}
		})
	}
}

// Clearing our limit gives the car the full current back.
func TestCommands_ClearChargingProfile(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			ctx := context.Background()
			charging(t, h, sim, 1, van)
			if res, err := h.svc.SetLimit(ctx, "CP01", 1, ocpp.Limit{Unit: "A", Value: 10}); err != nil || res.Status != ocpp.LimitConfirmed {
				t.Fatalf("SetLimit = %+v, %v", res, err)
			}
			eventually(t, "car at 10 A", func() bool { return sim.Connector(1).CurrentA == 10 })
			if st, err := h.svc.ClearLimit(ctx, "CP01", 1); err != nil || st != "Accepted" {
				t.Fatalf("ClearLimit = %q, %v", st, err)
			}
			eventually(t, "car back to full current", func() bool { return sim.Connector(1).CurrentA == 32 })
			eventually(t, "offered current reported back", func() bool {
				c, _ := connector(h, "CP01", 1)
				return c.OfferedA == 32 && c.CurrentA[0] == 32 && c.Requested == nil
			})
		})
	}
}
