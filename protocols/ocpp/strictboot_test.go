package ocpp_test

import (
	"testing"

	"github.com/polis-edge/polis/protocols/testserver"
)

// B: a configured station that talks without a boot on record (the edge's
// state was wiped while it stayed connected elsewhere) is asked for a
// BootNotification, and a token the service just accepted is not answered
// Invalid at StartTransaction meanwhile.
func TestStrict16_NoBootOnRecord(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	st := testserver.NewStation(t, h.url(), "CP01", "ocpp1.6", "")
	st.On("TriggerMessage", testserver.Accepted)
	st.OK("Heartbeat", map[string]any{})
	eventually(t, "TriggerMessage BootNotification", func() bool {
		for _, p := range st.Received("TriggerMessage") {
			if p["requestedMessage"] == "BootNotification" {
				return true
			}
		}
		return false
	})
	if s := st.OK("Authorize", map[string]any{"idTag": "04A1B2C3"})["idTagInfo"].(map[string]any)["status"]; s != "Accepted" {
		t.Fatalf("Authorize %v", s)
	}
	started := st.OK("StartTransaction", map[string]any{"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 0, "timestamp": testserver.NowISO()})
	if s := started["idTagInfo"].(map[string]any)["status"]; s != "Accepted" {
		t.Errorf("StartTransaction without a boot on record answered %v, after Authorize said Accepted", s)
	}
	// An unknown station (allow_unknown, boot pending) still gets Pending and a retry interval.
	cfg := baseConfig()
	cfg.AllowUnknown = true
	h2 := start(t, cfg, openDB(t), &recorder{})
	st2 := testserver.NewStation(t, h2.url(), "NEWCOMER", "ocpp1.6", "")
	boot := st2.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
	if boot["status"] != "Pending" || boot["interval"].(float64) <= 0 {
		t.Errorf("unknown station boot %v, want Pending with an interval", boot)
	}
}
