package ocpp_test

import (
	"testing"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/testserver"
)

// K (smart charging) against the strict station: every profile the rules'
// API sends (charger-wide max, per-connector default and transaction
// profiles, the fail-safe default, clearing) is valid per the official
// schema of each version, and each connector has its own profile id.
func TestStrict_SmartChargingProfiles(t *testing.T) {
	for _, proto := range []string{"ocpp1.6", "ocpp2.0.1"} {
		t.Run(proto, func(t *testing.T) {
			h := start(t, baseConfig(), openDB(t), &recorder{})
			st := testserver.NewStation(t, h.url(), "CP01", proto, "")
			st.On("ClearChargingProfile", testserver.Accepted)
			if proto == "ocpp1.6" {
				st.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
				st.OK("StartTransaction", map[string]any{"connectorId": 2, "idTag": "04A1B2C3", "meterStart": 0, "timestamp": testserver.NowISO()})
			} else {
				st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
				st.OK("TransactionEvent", map[string]any{"eventType": "Started", "timestamp": testserver.NowISO(), "triggerReason": "Authorized", "seqNo": 0,
					"transactionInfo": map[string]any{"transactionId": "k-1"}, "evse": map[string]any{"id": 2, "connectorId": 1},
					"idToken": map[string]any{"idToken": "04A1B2C3", "type": "ISO14443"}})
			}
			ctx := t.Context()
			for n, l := range map[int]ocpp.Limit{0: {Unit: "W", Value: 11000}, 1: {Unit: "A", Value: 10, Phases: 3}, 2: {Unit: "A", Value: 16}} {
				if res, err := h.svc.SetLimit(ctx, "CP01", n, l); err != nil || res.Status != ocpp.LimitConfirmed {
					t.Fatalf("SetLimit(%d) = %+v, %v", n, res, err)
				}
			}
			if res, err := h.svc.SetDefaultLimit(ctx, "CP01", 6); err != nil || res.Status != ocpp.LimitConfirmed {
				t.Fatalf("SetDefaultLimit = %+v, %v", res, err)
			}
			if st, err := h.svc.ClearLimit(ctx, "CP01", 1); err != nil || st != "Accepted" {
				t.Fatalf("ClearLimit = %q, %v", st, err)
			}
			purposes := map[string]string{}
			ids := map[float64]bool{}
			for _, p := range st.Received("SetChargingProfile") {
				prof, _ := p["csChargingProfiles"].(map[string]any)
				conn, _ := p["connectorId"].(float64)
				if proto == "ocpp2.0.1" {
					prof, conn = p["chargingProfile"].(map[string]any), p["evseId"].(float64)
				}
				id, _ := prof["chargingProfileId"].(float64)
				if proto == "ocpp2.0.1" {
					id = prof["id"].(float64)
				}
				if ids[id] {
					t.Errorf("profile id %v sent twice for different targets", id)
				}
				ids[id] = true
				purposes[prof["chargingProfilePurpose"].(string)+"@"+string(rune('0'+int(conn)))] = prof["chargingProfileKind"].(string)
			}
			maxPurpose := map[string]string{"ocpp1.6": "ChargePointMaxProfile", "ocpp2.0.1": "ChargingStationMaxProfile"}[proto]
			for _, want := range []string{maxPurpose + "@0", "TxDefaultProfile@1", "TxProfile@2", "TxDefaultProfile@0"} {
				if _, ok := purposes[want]; !ok {
					t.Errorf("no %s among %v", want, purposes)
				}
			}
			if purposes[maxPurpose+"@0"] != "Absolute" {
				t.Errorf("max profile kind %q, want Absolute", purposes[maxPurpose+"@0"])
			}
		})
	}
}
