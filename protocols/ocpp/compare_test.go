package ocpp_test

import (
	"slices"
	"testing"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/testserver"
)

func hasProfile(ps []ocpp.ChargingProfile, id int) bool {
	return slices.ContainsFunc(ps, func(p ocpp.ChargingProfile) bool { return p.ID == id })
}

// The office's composite schedule against the simulator's
// GetCompositeSchedule answer: they agree while the charger holds our
// profiles, a charger that lost them (reboot without storage) shows up as a
// difference, a TxProfile leaves with its transaction, a cleared profile
// leaves the list.
func TestCompareComposite_Simulator(t *testing.T) {
	for _, v := range []string{ocppsim.V16, ocppsim.V201} {
		t.Run(v, func(t *testing.T) {
			h := start(t, baseConfig(), openDB(t), &recorder{})
			sim, _ := runSim(t, ocppsim.Config{URL: h.url(), ID: "CP01", Connectors: 2, Version: v, MaxCurrentA: 32, Phases: 3})
			eventually(t, "charger online", func() bool {
				c, ok := connector(h, "CP01", 2)
				return ok && c.Online && c.Status == "Available"
			})
			ctx := t.Context()
			for n, l := range map[int]ocpp.Limit{1: {Unit: "A", Value: 10}, 0: {Unit: "W", Value: 11040}} {
				if res, err := h.svc.SetLimit(ctx, "CP01", n, l); err != nil || res.Status != ocpp.LimitConfirmed {
					t.Fatalf("SetLimit(%d) = %+v, %v", n, res, err)
				}
			}
			for conn, want := range map[int]float64{1: 10, 2: 16, 0: 16} {
				cmp, err := h.svc.CompareComposite(ctx, "CP01", conn, 3600, "A")
				if err != nil {
					t.Fatal(err)
				}
				if !cmp.Agree || len(cmp.Local.Periods) != 1 || cmp.Local.Periods[0].Limit != want || cmp.Reported == nil {
					t.Errorf("connector %d: %+v, want both at %v A", conn, cmp, want)
				}
			}
			cmpW, err := h.svc.CompareComposite(ctx, "CP01", 1, 600, "W")
			if err != nil || !cmpW.Agree || cmpW.Local.Periods[0].Limit != 6900 {
				t.Errorf("in W: %+v, %v; want both at 6900 W", cmpW, err)
			}

			sim.ForgetProfiles()
			cmp, err := h.svc.CompareComposite(ctx, "CP01", 1, 3600, "A")
			if err != nil {
				t.Fatal(err)
			}
			if cmp.Agree || len(cmp.Differs) != 1 {
				t.Fatalf("after the charger lost its profiles: %+v", cmp)
			}
			d := cmp.Differs[0]
			if d.FromS != 0 || d.ToS != 3600 || d.Local == nil || *d.Local != 10 || d.Reported == nil || *d.Reported != 32 {
				t.Errorf("difference %+v, want 0-3600 s local 10 A, charger 32 A", d)
			}

			// A TxProfile ends with its transaction; ClearLimit removes ours.
			if err := sim.Plug(2, van); err != nil {
				t.Fatal(err)
			}
			// Both sides know the transaction (1.6: the charger learns its id
			// from the StartTransaction answer), so the TxProfile applies.
			eventually(t, "session on 2", func() bool {
				c, _ := connector(h, "CP01", 2)
				return c.Session != nil && sim.Connector(2).TxID == c.Session.TransactionID
			})
			if res, err := h.svc.SetLimit(ctx, "CP01", 2, ocpp.Limit{Unit: "A", Value: 8}); err != nil || res.Status != ocpp.LimitConfirmed {
				t.Fatalf("SetLimit(2) = %+v, %v", res, err)
			}
			if !hasProfile(h.svc.Profiles("CP01"), 9202) {
				t.Fatalf("TxProfile not recorded: %+v", h.svc.Profiles("CP01"))
			}
			cmp, _ = h.svc.CompareComposite(ctx, "CP01", 2, 60, "A")
			if !cmp.Agree || cmp.Local.Periods[0].Limit != 8 {
				t.Errorf("during the transaction: %+v", cmp)
			}
			if err := sim.Unplug(2, core.ReasonEVDisconnected); err != nil {
				t.Fatal(err)
			}
			eventually(t, "TxProfile gone with its transaction", func() bool { return !hasProfile(h.svc.Profiles("CP01"), 9202) })
			if _, err := h.svc.ClearLimit(ctx, "CP01", 1); err != nil {
				t.Fatal(err)
			}
			if ps := h.svc.Profiles("CP01"); hasProfile(ps, 9101) || !hasProfile(ps, 9000) {
				t.Errorf("after ClearLimit(1): %+v, want 9000 kept and 9101 gone", ps)
			}
		})
	}
}

// The list of installed profiles is written lazily (not one disk write per
// limit) but survives a restart: the service writes it on the way out.
func TestProfiles_SurviveRestart(t *testing.T) {
	db := openDB(t)
	h1 := start(t, baseConfig(), db, &recorder{})
	st := testserver.NewStation(t, h1.url(), "CP01", "ocpp1.6", "")
	st.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
	if res, err := h1.svc.SetLimit(t.Context(), "CP01", 1, ocpp.Limit{Unit: "A", Value: 12}); err != nil || res.Status != ocpp.LimitConfirmed {
		t.Fatalf("SetLimit = %+v, %v", res, err)
	}
	h1.stop()
	h2 := start(t, baseConfig(), db, &recorder{})
	ps := h2.svc.Profiles("CP01")
	if !hasProfile(ps, 9101) {
		t.Fatalf("after restart: %+v, want profile 9101", ps)
	}
}
