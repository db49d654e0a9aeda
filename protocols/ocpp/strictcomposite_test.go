package ocpp_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/testserver"
)

// K01/K08 against the strict station: a recurring daily profile with a
// validity window is schema-valid in both versions, and the charger's
// GetCompositeSchedule answer (the official 2.0.1 shape, which the library
// alone would drop) is compared with the office's own computation.
func TestStrict_RecurringProfileAndCompositeComparison(t *testing.T) {
	for _, proto := range []string{"ocpp1.6", "ocpp2.0.1"} {
		t.Run(proto, func(t *testing.T) {
			h := start(t, baseConfig(), openDB(t), &recorder{})
			st := testserver.NewStation(t, h.url(), "CP01", proto, "")
			if proto == "ocpp1.6" {
				st.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
			} else {
				st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
			}
			s := time.Now().UTC().Truncate(time.Second)
			// Daily from 1 h before s: 6 A for 2 h, then 16 A; valid until s+2h.
			prof := ocpp.ChargingProfile{ID: 77, Connector: 1, StackLevel: 3, Purpose: ocpp.PurposeTxDefault,
				Kind: ocpp.KindRecurring, Recurrency: ocpp.RecurDaily, ValidFrom: s.Add(-48 * time.Hour), ValidTo: s.Add(2 * time.Hour),
				Schedule: ocpp.Schedule{Start: s.Add(-25 * time.Hour), Unit: "A", Periods: []ocpp.Period{{StartS: 0, Limit: 6}, {StartS: 7200, Limit: 16, Phases: 3}}}}
			bad := prof
			bad.ID = 9101
			if _, err := h.svc.SetProfile(t.Context(), "CP01", bad); err == nil {
				t.Error("SetProfile with the rules' id 9101 accepted")
			}
			bad = prof
			bad.Recurrency = ""
			if _, err := h.svc.SetProfile(t.Context(), "CP01", bad); err == nil {
				t.Error("Recurring profile without recurrency accepted")
			}
			if res, err := h.svc.SetProfile(t.Context(), "CP01", prof); err != nil || res.Status != ocpp.LimitConfirmed {
				t.Fatalf("SetProfile = %+v, %v", res, err)
			}
			sent := st.Received("SetChargingProfile")
			if raw, _ := json.Marshal(sent[len(sent)-1]); !strings.Contains(string(raw), `"recurrencyKind":"Daily"`) || !strings.Contains(string(raw), `"validTo"`) {
				t.Errorf("profile sent: %s", raw)
			}
			periods := []map[string]any{{"startPeriod": 0, "limit": 6}, {"startPeriod": 3600, "limit": 16, "numberPhases": 3}, {"startPeriod": 7200, "limit": 32}}
			answer := func(map[string]any) (any, string) {
				if proto == "ocpp1.6" {
					return map[string]any{"status": "Accepted", "connectorId": 1, "scheduleStart": s.Format(time.RFC3339),
						"chargingSchedule": map[string]any{"duration": 10800, "startSchedule": s.Format(time.RFC3339), "chargingRateUnit": "A", "chargingSchedulePeriod": periods}}, ""
				}
				return map[string]any{"status": "Accepted", "schedule": map[string]any{"evseId": 1, "duration": 10800,
					"scheduleStart": s.Format(time.RFC3339), "chargingRateUnit": "A", "chargingSchedulePeriod": periods}}, ""
			}
			st.On("GetCompositeSchedule", answer)
			cmp, err := h.svc.CompareComposite(t.Context(), "CP01", 1, 10800, "A")
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Agree || cmp.Reported == nil || len(cmp.Reported.Periods) != 3 || !cmp.Local.Start.Equal(s) {
				t.Fatalf("comparison %+v", cmp)
			}
			if len(cmp.Differs) != 1 || !cmp.Differs[0].OnlyCharger || cmp.Differs[0].FromS != 7200 || cmp.Differs[0].ToS != 10800 {
				t.Errorf("differences %+v: want only 7200-10800 s where the office sets no limit", cmp.Differs)
			}
			if len(cmp.Local.Periods) != 3 || cmp.Local.Periods[0].Limit != 6 || cmp.Local.Periods[1].Limit != 16 || !cmp.Local.Periods[2].NoLimit {
				t.Errorf("local %+v", cmp.Local.Periods)
			}

			// The charger keeps 6 A where the profile says 16 A.
			periods[1]["limit"] = 6
			cmp, err = h.svc.CompareComposite(t.Context(), "CP01", 1, 10800, "A")
			if err != nil {
				t.Fatal(err)
			}
			if cmp.Agree || len(cmp.Differs) < 1 || cmp.Differs[0].FromS != 3600 || cmp.Differs[0].ToS != 7200 || *cmp.Differs[0].Local != 16 || *cmp.Differs[0].Reported != 6 {
				t.Errorf("disagreeing charger: %+v", cmp.Differs)
			}

			// The operator's raw call returns the schema's shape.
			res, err := h.svc.Send(t.Context(), "CP01", "GetCompositeSchedule", json.RawMessage(map[string]string{
				"ocpp1.6": `{"connectorId":1,"duration":60}`, "ocpp2.0.1": `{"evseId":1,"duration":60}`}[proto]))
			if err != nil || !strings.Contains(string(res.Response), `"chargingSchedulePeriod"`) || !strings.Contains(string(res.Response), `"scheduleStart"`) {
				t.Errorf("Send GetCompositeSchedule = %s, %v", res.Response, err)
			}
		})
	}
}
