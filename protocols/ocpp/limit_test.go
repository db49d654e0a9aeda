package ocpp_test

import (
	"context"
	"testing"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
)

// A limit on connector 2 must not replace connector 1's: the charger keeps
// profiles by id, so each connector needs its own (SHARED-APIS #4).
func TestSetLimit_EachConnectorKeepsItsOwnProfile(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			charging(t, h, sim, 1, van)
			charging(t, h, sim, 2, van2)
			ctx := context.Background()
			for n, amps := range map[int]float64{1: 8, 2: 16} {
				if res, err := h.svc.SetLimit(ctx, "CP01", n, ocpp.Limit{Unit: "A", Value: amps}); err != nil || res.Status != ocpp.LimitConfirmed {
					t.Fatalf("SetLimit(%d) = %+v, %v", n, res, err)
				}
			}
			eventually(t, "both cars following their own limit", func() bool {
				return sim.Connector(1).CurrentA == 8 && sim.Connector(2).CurrentA == 16
			})
			if got := len(sim.Profiles()); got != 2 {
				t.Errorf("charger holds %d profiles, want 2 (one per connector): %+v", got, sim.Profiles())
			}
		})
	}
}

// The fail-safe default is a TxDefaultProfile on connector/EVSE 0 below the
// live limits: a new session starts at it, a live limit overrides it, and a
// charger that reboots (and forgets its profiles) gets it again.
func TestSetDefaultLimit_InstalledAndReinstalledAfterBoot(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			ctx := context.Background()
			res, err := h.svc.SetDefaultLimit(ctx, "CP01", 10)
			if err != nil || res.Status != ocpp.LimitConfirmed {
				t.Fatalf("SetDefaultLimit = %+v, %v", res, err)
			}
			ps := sim.Profiles()
			if len(ps) != 1 || ps[0].Connector != 0 || ps[0].Purpose != "TxDefaultProfile" || ps[0].Limit != 10 || ps[0].Unit != "A" {
				t.Fatalf("charger profiles = %+v, want one TxDefaultProfile of 10 A on connector 0", ps)
			}
			charging(t, h, sim, 1, van)
			eventually(t, "new session held at the fail-safe", func() bool { return sim.Connector(1).CurrentA == 10 })
			if res, err := h.svc.SetLimit(ctx, "CP01", 1, ocpp.Limit{Unit: "A", Value: 20}); err != nil || res.Status != ocpp.LimitConfirmed {
				t.Fatalf("SetLimit = %+v, %v", res, err)
			}
			eventually(t, "live limit above the fail-safe", func() bool { return sim.Connector(1).CurrentA == 20 })

			// The charger reboots and loses every profile; the edge sends
			// the fail-safe again after the BootNotification.
			boots := sim.Boots()
			sim.ForgetProfiles()
			if st, err := h.svc.Reset(ctx, "CP01", true); err != nil || st != "Accepted" {
				t.Fatalf("Reset = %q, %v", st, err)
			}
			eventually(t, "fail-safe reinstalled after boot", func() bool {
				if sim.Boots() <= boots {
					return false
				}
				for _, p := range sim.Profiles() {
					if p.Connector == 0 && p.Purpose == "TxDefaultProfile" && p.Limit == 10 {
						return true
					}
				}
				return false
			})
		})
	}
}
