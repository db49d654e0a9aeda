package edge

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/testserver"
)

const ocppRoutePassword = "operator-route-pw-16"

func postJSON(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

type routeCase struct {
	action, payload string
	answer          func(map[string]any) (any, string)
}

func answer(v string) func(map[string]any) (any, string) {
	return func(map[string]any) (any, string) {
		var out any
		_ = json.Unmarshal([]byte(v), &out)
		return out, ""
	}
}

// Every call the central system can send, per version, through one route per
// charger and action: the strict station (ocpp-rpc) validates what we send,
// we validate what it answers, the operator gets the answer, and each call is
// audited.
func TestOCPPOperatorRoutes_EveryCall(t *testing.T) {
	later := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	prof16 := `{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}}`
	prof201 := `{"id":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative","chargingSchedule":[{"id":1,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}]}`
	tok := `{"idToken":"04A1B2C3","type":"ISO14443"}`
	acc := answer(`{"status":"Accepted"}`)
	cases := map[string][]routeCase{
		"ocpp1.6": {
			{"RemoteStartTransaction", `{"idTag":"04A1B2C3","connectorId":1}`, acc},
			{"RemoteStopTransaction", `{"transactionId":1}`, acc},
			{"Reset", `{"type":"Soft"}`, acc},
			{"UnlockConnector", `{"connectorId":1}`, answer(`{"status":"Unlocked"}`)},
			{"ChangeAvailability", `{"connectorId":1,"type":"Inoperative"}`, acc},
			{"GetConfiguration", `{"key":["HeartbeatInterval"]}`, answer(`{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}]}`)},
			{"ChangeConfiguration", `{"key":"HeartbeatInterval","value":"300"}`, acc},
			{"TriggerMessage", `{"requestedMessage":"Heartbeat"}`, acc},
			{"SetChargingProfile", `{"connectorId":1,"csChargingProfiles":` + prof16 + `}`, acc},
			{"ClearChargingProfile", `{"id":1}`, acc},
			{"GetCompositeSchedule", `{"connectorId":1,"duration":3600}`, answer(`{"status":"Accepted","connectorId":1,"scheduleStart":"` + later + `","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}}`)},
			{"ReserveNow", `{"connectorId":1,"expiryDate":"` + later + `","idTag":"04A1B2C3","reservationId":1}`, acc},
			{"CancelReservation", `{"reservationId":1}`, acc},
			{"SendLocalList", `{"listVersion":3,"updateType":"Full","localAuthorizationList":[{"idTag":"04A1B2C3","idTagInfo":{"status":"Accepted"}}]}`, acc},
			{"GetLocalListVersion", `{}`, answer(`{"listVersion":3}`)},
			{"ClearCache", ``, acc},
			{"DataTransfer", `{"vendorId":"com.example"}`, acc},
		},
		"ocpp2.0.1": {
			{"RequestStartTransaction", `{"idToken":` + tok + `,"remoteStartId":1,"evseId":1}`, acc},
			{"RequestStopTransaction", `{"transactionId":"tx1"}`, acc},
			{"Reset", `{"type":"OnIdle"}`, acc},
			{"UnlockConnector", `{"evseId":1,"connectorId":1}`, answer(`{"status":"Unlocked"}`)},
			{"ChangeAvailability", `{"operationalStatus":"Inoperative","evse":{"id":1}}`, acc},
			{"GetVariables", `{"getVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}`,
				answer(`{"getVariableResult":[{"attributeStatus":"Accepted","attributeValue":"300","component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}`)},
			{"SetVariables", `{"setVariableData":[{"attributeValue":"300","component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}`, nil},
			{"GetBaseReport", `{"requestId":1,"reportBase":"FullInventory"}`, acc},
			{"GetReport", `{"requestId":2}`, acc},
			{"TriggerMessage", `{"requestedMessage":"Heartbeat"}`, acc},
			{"SetChargingProfile", `{"evseId":1,"chargingProfile":` + prof201 + `}`, acc},
			{"GetChargingProfiles", `{"requestId":3,"chargingProfile":{"chargingProfilePurpose":"TxDefaultProfile"}}`, answer(`{"status":"NoProfiles"}`)}, // reports: TestStrict201_GetChargingProfilesCollectsReports
			{"ClearChargingProfile", `{"chargingProfileId":1}`, acc},
			{"GetCompositeSchedule", `{"duration":3600,"evseId":1}`, answer(`{"status":"Rejected"}`)},
			{"GetTransactionStatus", `{"transactionId":"tx1"}`, answer(`{"messagesInQueue":false,"ongoingIndicator":true}`)},
			{"ReserveNow", `{"id":1,"expiryDateTime":"` + later + `","idToken":` + tok + `}`, acc},
			{"CancelReservation", `{"reservationId":1}`, acc},
			{"SendLocalList", `{"versionNumber":3,"updateType":"Full","localAuthorizationList":[{"idToken":` + tok + `,"idTokenInfo":{"status":"Accepted"}}]}`, acc},
			{"GetLocalListVersion", `{}`, answer(`{"versionNumber":3}`)},
			{"ClearCache", `{}`, acc},
			{"DataTransfer", `{"vendorId":"com.example"}`, acc},
		},
	}
	cfg := edgeConfig(t, dataDir(t), "")
	cfg.HTTP.Operators = []config.Operator{
		{Name: "installer", Token: "installer-token-0123456789", Role: "operator"},
		{Name: "guest", Token: "guest-token-0123456789", Role: "viewer"},
		{Name: "root", Token: "admin-token-0123456789", Role: "admin"},
	}
	cfg.OCPP = &ocpp.Config{Listen: "127.0.0.1:0", CommandTimeout: 10 * time.Second, Chargers: []ocpp.ChargerConfig{
		{ID: "CP16", Password: ocppRoutePassword, Connectors: 2}, {ID: "CP201", Password: ocppRoutePassword, Connectors: 2}}}
	cfg.OCPP.ApplyDefaults()
	d, _ := startEdge(t, cfg)
	base := "http://" + d.HTTPAddr() + "/api/v1/ocpp/chargers/"
	url := "ws://" + d.OCPP().Addr().String() + "/ocpp"
	n := 0
	for proto, id := range map[string]string{"ocpp1.6": "CP16", "ocpp2.0.1": "CP201"} {
		st := testserver.NewStation(t, url, id, proto, ocppRoutePassword)
		if proto == "ocpp1.6" {
			st.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
		} else {
			st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
		}
		for _, c := range cases[proto] {
			if c.answer != nil {
				st.On(c.action, c.answer)
			}
			code, body := postJSON(t, base+id+"/calls/"+c.action, "installer-token-0123456789", c.payload)
			if code != http.StatusOK {
				t.Errorf("%s %s: %d %v", id, c.action, code, body)
				continue
			}
			n++
			if got := st.Received(c.action); len(got) == 0 {
				t.Errorf("%s %s: the station got no call", id, c.action)
			}
			if resp, _ := body["response"].(map[string]any); resp == nil || body["version"] != proto {
				t.Errorf("%s %s: answer %v", id, c.action, body)
			}
		}
		// Smart charging: our own profile, then the composite next to the charger's.
		prof := `{"id":4242,"connector":1,"stack_level":4,"purpose":"TxDefaultProfile","kind":"Recurring","recurrency":"Daily",` +
			`"schedule":{"start":"2026-01-01T00:00:00Z","unit":"A","periods":[{"start_s":0,"limit":16}]}}`
		if code, body := postJSON(t, base+id+"/profiles", "installer-token-0123456789", prof); code != http.StatusOK || body["status"] != "confirmed" {
			t.Errorf("%s POST profile: %d %v", id, code, body)
		}
		if code, body := authGet(t, base+id+"/profiles", "guest-token-0123456789"); code != 200 || !strings.Contains(body, `4242`) || !strings.Contains(body, `"Daily"`) {
			t.Errorf("%s GET profiles: %d %s", id, code, body)
		}
		code, body := authGet(t, base+id+"/composite?connector=1&duration=3600&unit=A", "guest-token-0123456789")
		var cmp ocpp.CompositeComparison
		_ = json.Unmarshal([]byte(body), &cmp)
		wantStatus := map[string]string{"ocpp1.6": "Accepted", "ocpp2.0.1": "Rejected"}[proto]
		if code != 200 || cmp.Status != wantStatus || cmp.Agree != (proto == "ocpp1.6") || len(cmp.Local.Periods) == 0 || cmp.Local.Periods[0].Limit != 16 {
			t.Errorf("%s composite: %d %s", id, code, body)
		}
		// Refusals: schema, version, role.
		if code, _ := postJSON(t, base+id+"/calls/Reset", "installer-token-0123456789", `{"type":"Sideways"}`); code != http.StatusBadRequest {
			t.Errorf("%s Reset with a bad enum: %d, want 400", id, code)
		}
		other := map[string]string{"ocpp1.6": "GetVariables", "ocpp2.0.1": "RemoteStartTransaction"}[proto]
		if code, _ := postJSON(t, base+id+"/calls/"+other, "installer-token-0123456789", `{}`); code != http.StatusNotFound {
			t.Errorf("%s %s (other version): %d, want 404", id, other, code)
		}
		if code, _ := postJSON(t, base+id+"/calls/ClearCache", "guest-token-0123456789", `{}`); code != http.StatusForbidden {
			t.Errorf("viewer sending a call: %d, want 403", code)
		}
	}
	if code, _ := postJSON(t, base+"NOBODY/calls/ClearCache", "installer-token-0123456789", `{}`); code != http.StatusServiceUnavailable {
		t.Errorf("call to an unconnected charger: %d, want 503", code)
	}
	code, body := authGet(t, "http://"+d.HTTPAddr()+"/api/v1/audit?limit=100", "guest-token-0123456789")
	if code != 200 || strings.Count(body, `"ocpp_`) < n {
		t.Errorf("audit has %d ocpp_ entries, want at least %d", strings.Count(body, `"ocpp_`), n)
	}
	// Tokens: create, block, list; the list goes to a charger on demand.
	req, _ := http.NewRequest("PUT", "http://"+d.HTTPAddr()+"/api/v1/ocpp/tokens/FEEDF00D", strings.NewReader(`{"group":"fleet","departure":"06:45","status":"Blocked"}`))
	req.Header.Set("Authorization", "Bearer installer-token-0123456789")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT token: %v %v", resp, err)
	}
	if code, body := authGet(t, "http://"+d.HTTPAddr()+"/api/v1/ocpp/tokens", "guest-token-0123456789"); code != 200 || !strings.Contains(body, `"FEEDF00D"`) || !strings.Contains(body, `"Blocked"`) {
		t.Errorf("tokens: %d %s", code, body)
	}
	if code, body := postJSON(t, base+"CP16/local-list", "installer-token-0123456789", ``); code != 200 || body["status"] != "Accepted" {
		t.Errorf("local list sync: %d %v", code, body)
	}
	// Password rotation (admin): the charger accepts, the edge keeps the new one.
	req, _ = http.NewRequest("PUT", base+"CP16/password", strings.NewReader(`{"password":"a-brand-new-password-1"}`))
	req.Header.Set("Authorization", "Bearer installer-token-0123456789")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator rotating a password: %v %v, want 403 (admin only)", resp, err)
	}
	req, _ = http.NewRequest("PUT", base+"CP16/password", strings.NewReader(`{"password":"a-brand-new-password-1"}`))
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate password: %v %v", resp, err)
	}
	dial := func(pass string) int {
		d := websocket.Dialer{Subprotocols: []string{"ocpp1.6"}}
		hdr := http.Header{}
		r, _ := http.NewRequest("GET", "http://x", nil)
		r.SetBasicAuth("CP16", pass)
		hdr.Set("Authorization", r.Header.Get("Authorization"))
		c, resp, err := d.Dial(url+"/CP16", hdr)
		if err == nil {
			c.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			return 0
		}
		return resp.StatusCode
	}
	if got := dial(ocppRoutePassword); got != http.StatusUnauthorized {
		t.Errorf("old password after rotation: %d, want 401", got)
	}
	if got := dial("a-brand-new-password-1"); got != http.StatusSwitchingProtocols {
		t.Errorf("new password after rotation: %d, want 101", got)
	}
	if want := len(ocpp.Actions16) + len(ocpp.Actions201); n != want {
		t.Errorf("%d calls answered, want %d (every action of both versions)", n, want)
	}
}
