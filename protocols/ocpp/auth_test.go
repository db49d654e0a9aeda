package ocpp_test

import (
	"testing"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
)

// Authorize answers per the tag list and the unknown_tags policy, and a
// session started with the tag carries the group the policy gives it; a
// refused tag's session is ended by the charger (DeAuthorized) and draws
// nothing.
func TestAuthorize_TagListAndUnknownPolicy(t *testing.T) {
	stranger := ocppsim.Car{IdTag: "CAFEBABE", BatteryWh: 50000, SoCPct: 40, MaxCurrentA: 16, Phases: 3}
	for _, v := range versions {
		for _, tc := range []struct {
			policy, want, group string
		}{
			{ocpp.UnknownReject, "Invalid", "unknown"},
			{ocpp.UnknownAccept, "Accepted", "unknown"},
			{ocpp.UnknownAcceptPublic, "Accepted", "public"},
		} {
			t.Run(v.name+"/"+tc.policy, func(t *testing.T) {
				cfg := baseConfig()
				cfg.Auth.UnknownTags = tc.policy
				h, sim := setup(t, v.sim, cfg, ocppsim.Config{})
				if st, err := sim.Authorize("04a1b2c3"); err != nil || st != "Accepted" {
					t.Errorf("fleet tag (lower case) = %q, %v; want Accepted", st, err)
				}
				if st, err := sim.Authorize(stranger.IdTag); err != nil || st != tc.want {
					t.Errorf("unknown tag = %q, %v; want %s", st, err, tc.want)
				}
				if err := sim.Plug(1, stranger); err != nil {
					t.Fatal(err)
				}
				if tc.want == "Invalid" {
					eventually(t, "charger ends the refused session", func() bool { return len(stoppedSessions(h)) == 1 })
					got := stoppedSessions(h)[0]
					if got.Fields["stop_reason"] != "DeAuthorized" || got.Tags["group"] != tc.group || got.Fields["energy_wh"] != 0.0 {
						t.Errorf("refused session %+v", got)
					}
					if sim.PowerW() != 0 {
						t.Errorf("refused car draws %v W", sim.PowerW())
					}
					return
				}
				eventually(t, "session charging", func() bool {
					c, _ := connector(h, "CP01", 1)
					return c.Session != nil && c.Status == "Charging"
				})
				c, _ := connector(h, "CP01", 1)
				if c.Session.Group != tc.group || c.Session.IdTag != stranger.IdTag {
					t.Errorf("session group %q tag %q, want %q", c.Session.Group, c.Session.IdTag, tc.group)
				}
			})
		}
	}
}

// Vendor extensions are not understood: the charger is told so, and the
// message is counted.
func TestDataTransfer_UnknownVendor(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			h, sim := setup(t, v.sim, baseConfig(), ocppsim.Config{})
			if st, err := sim.DataTransfer("com.example.acme", "LedColour", `{"colour":"green"}`); err != nil || st != "UnknownVendorId" {
				t.Errorf("DataTransfer = %q, %v", st, err)
			}
			if n := counter(h, "CP01", "data_transfer"); n != 1 {
				t.Errorf("data_transfer counter = %d, want 1", n)
			}
		})
	}
}
