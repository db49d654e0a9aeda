package ocpp_test

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/testserver"
)

// C (authorisation): statuses, expiry and the group token in the answers,
// operator changes (block), and the versioned local list sent after boot so
// the charger authorises the vans while the edge is down. Every frame is
// checked by the strict ocpp-rpc station.
func TestStrict_AuthorizationAndLocalList(t *testing.T) {
	for _, proto := range []string{"ocpp1.6", "ocpp2.0.1"} {
		t.Run(proto, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Auth.Tags = []ocpp.TagConfig{
				{ID: "04A1B2C3", Group: "fleet", Departure: "07:30", Parent: "POLIS-FLEET", Expiry: time.Now().Add(240 * time.Hour).Truncate(time.Second)},
				{ID: "B10CED00", Group: "fleet", Status: "Blocked"},
				{ID: "0LDCARD0", Group: "public", Expiry: time.Now().Add(-time.Hour)},
			}
			h := start(t, cfg, openDB(t), &recorder{})
			st := testserver.NewStation(t, h.url(), "CP01", proto, "")
			versionKey := map[string]string{"ocpp1.6": "listVersion", "ocpp2.0.1": "versionNumber"}[proto]
			st.On("GetLocalListVersion", func(map[string]any) (any, string) { return map[string]any{versionKey: 0}, "" })
			st.On("SendLocalList", testserver.Accepted)
			status := func(tag string) (string, map[string]any) {
				t.Helper()
				if proto == "ocpp1.6" {
					info := st.OK("Authorize", map[string]any{"idTag": tag})["idTagInfo"].(map[string]any)
					return info["status"].(string), info
				}
				info := st.OK("Authorize", map[string]any{"idToken": map[string]any{"idToken": tag, "type": "ISO14443"}})["idTokenInfo"].(map[string]any)
				return info["status"].(string), info
			}
			if proto == "ocpp1.6" {
				st.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
				st.OK("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available"})
			} else {
				st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
				st.OK("StatusNotification", map[string]any{"timestamp": testserver.NowISO(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1})
			}
			for tag, want := range map[string]string{"04A1B2C3": "Accepted", "B10CED00": "Blocked", "0LDCARD0": "Expired", "CAFEBABE": "Invalid"} {
				if got, _ := status(tag); got != want {
					t.Errorf("Authorize %s = %s, want %s", tag, got, want)
				}
			}
			_, info := status("04A1B2C3")
			if proto == "ocpp1.6" {
				if info["parentIdTag"] != "POLIS-FLEET" || info["expiryDate"] == nil {
					t.Errorf("idTagInfo %v: want parentIdTag and expiryDate", info)
				}
			} else if g, _ := info["groupIdToken"].(map[string]any); g == nil || g["idToken"] != "POLIS-FLEET" || info["cacheExpiryDateTime"] == nil {
				t.Errorf("idTokenInfo %v: want groupIdToken and cacheExpiryDateTime", info)
			}

			// After boot the edge read the charger's list version (0) and sent its list.
			tags, version := h.svc.Tags()
			eventually(t, "SendLocalList after boot", func() bool { return len(st.Received("SendLocalList")) == 1 })
			sent := st.Received("SendLocalList")[0]
			if sent[versionKey].(float64) != float64(version) || sent["updateType"] != "Full" || len(sent["localAuthorizationList"].([]any)) != len(tags) {
				t.Errorf("SendLocalList %v, want version %d and %d entries", sent, version, len(tags))
			}

			// An operator blocks the van's tag: the answer changes at once and
			// the list's version grows for the next sync.
			blocked := tags[0]
			for _, tg := range tags {
				if tg.ID == "04A1B2C3" {
					blocked = tg
				}
			}
			blocked.Status = "Blocked"
			v2, err := h.svc.PutTag(blocked)
			if err != nil || v2 <= version {
				t.Fatalf("PutTag = %d, %v; want a version above %d", v2, err, version)
			}
			if got, _ := status("04A1B2C3"); got != "Blocked" {
				t.Errorf("blocked tag answered %s", got)
			}
			if st2, err := h.svc.SyncLocalList(t.Context(), "CP01"); err != nil || st2 != "Accepted" {
				t.Errorf("SyncLocalList = %q, %v", st2, err)
			}
		})
	}
}
