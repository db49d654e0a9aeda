package ocpp_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/polis-edge/polis/protocols/testserver"
)

// K09: GetChargingProfiles is answered Accepted and the profiles follow in
// ReportChargingProfiles (requestId, tbc over several messages); the
// operator's call returns their content, in order, and stops at the last.
// A report for another request is not mixed in.
func TestStrict201_GetChargingProfilesCollectsReports(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	st := testserver.NewStation(t, h.url(), "CP01", "ocpp2.0.1", "")
	st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
	profile := func(id int, limit float64) map[string]any {
		return map[string]any{"id": id, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
			"chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": limit}}}}}
	}
	sent := make(chan error, 1)
	st.On("GetChargingProfiles", func(p map[string]any) (any, string) {
		req := p["requestId"]
		go func() { // the reports follow the answer, as a station sends them
			for _, r := range []map[string]any{
				{"requestId": req.(float64) + 1000, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": []any{profile(99, 1)}},
				{"requestId": req, "chargingLimitSource": "CSO", "tbc": true, "evseId": 1, "chargingProfile": []any{profile(1, 16)}},
				{"requestId": req, "chargingLimitSource": "EMS", "evseId": 2, "chargingProfile": []any{profile(2, 10), profile(3, 6)}},
			} {
				if a := st.Call("ReportChargingProfiles", r); a.Error != nil {
					sent <- fmt.Errorf("%s: %s", a.Error.Code, a.Error.Message)
					return
				}
			}
			sent <- nil
		}()
		return map[string]any{"status": "Accepted"}, ""
	})
	res, err := h.svc.Send(t.Context(), "CP01", "GetChargingProfiles", json.RawMessage(`{"requestId":5,"chargingProfile":{"chargingProfilePurpose":"TxDefaultProfile"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("ReportChargingProfiles refused: %v", err)
	}
	if res.Reports == nil || !res.Reports.Complete || len(res.Reports.Reports) != 2 {
		t.Fatalf("reports %+v, want the 2 of this request, complete", res.Reports)
	}
	var ids []int
	for _, raw := range res.Reports.Reports {
		var r struct {
			RequestID int `json:"requestId"`
			Profiles  []struct {
				ID int `json:"id"`
			} `json:"chargingProfile"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.RequestID != res.Reports.RequestID {
			t.Errorf("report of request %d in the answer to %d", r.RequestID, res.Reports.RequestID)
		}
		for _, p := range r.Profiles {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 2 || ids[2] != 3 {
		t.Errorf("profile ids %v, want [1 2 3]", ids)
	}
	if got := st.Received("GetChargingProfiles"); len(got) != 1 || got[0]["requestId"].(float64) != float64(res.Reports.RequestID) {
		t.Errorf("request sent %v, want requestId %d", got, res.Reports.RequestID)
	}
	// NoProfiles: nothing to wait for.
	st.On("GetChargingProfiles", func(map[string]any) (any, string) { return map[string]any{"status": "NoProfiles"}, "" })
	res, err = h.svc.Send(t.Context(), "CP01", "GetChargingProfiles", json.RawMessage(`{"requestId":6,"chargingProfile":{"chargingProfilePurpose":"TxProfile"}}`))
	if err != nil || res.Reports == nil || !res.Reports.Complete || len(res.Reports.Reports) != 0 {
		t.Errorf("NoProfiles: %+v, %v", res.Reports, err)
	}
}
