package ocpp_test

import (
	"testing"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

// 2.0.1 use cases F (remote control), G (availability) and J (meter values)
// in the specification's order, against the strict ocpp-rpc station: every
// frame both ways is checked against the official schemas, and each step
// asserts what the office then shows.
func TestStrict201_RemoteControlAvailabilityMeterValues(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	st := testserver.NewStation(t, h.url(), "CP01", "ocpp2.0.1", "")
	ctx := t.Context()
	conn := func(n int) ocpp.ConnectorState { c, _ := connector(h, "CP01", n); return c }
	last := st.Last
	status := func(evse int, s string) {
		st.OK("StatusNotification", map[string]any{"timestamp": testserver.NowISO(), "connectorStatus": s, "evseId": evse, "connectorId": 1})
	}
	energy := func(wh float64, extra ...map[string]any) []any {
		sv := []any{map[string]any{"value": wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": map[string]any{"unit": "Wh"}}}
		for _, e := range extra {
			sv = append(sv, e)
		}
		return []any{map[string]any{"timestamp": testserver.NowISO(), "sampledValue": sv}}
	}
	txEvent := func(kind, trigger, txID string, seq, evse int, info map[string]any, extra map[string]any) map[string]any {
		ti := map[string]any{"transactionId": txID}
		for k, v := range info {
			ti[k] = v
		}
		p := map[string]any{"eventType": kind, "timestamp": testserver.NowISO(), "triggerReason": trigger, "seqNo": seq,
			"transactionInfo": ti, "evse": map[string]any{"id": evse, "connectorId": 1}}
		for k, v := range extra {
			p[k] = v
		}
		return st.OK("TransactionEvent", p)
	}
	tokenStatus := func(res map[string]any) string {
		info, _ := res["idTokenInfo"].(map[string]any)
		s, _ := info["status"].(string)
		return s
	}

	// B01 + G01: boot, then each EVSE reports Available.
	st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
	status(1, "Available")
	status(2, "Available")
	if conn(1).Status != "Available" || conn(2).Status != "Available" || !conn(1).Online {
		t.Fatalf("G01: %+v %+v", conn(1), conn(2))
	}
	// G02: Heartbeat answered with the time.
	if hb := st.OK("Heartbeat", map[string]any{}); hb["currentTime"] == nil {
		t.Errorf("G02 Heartbeat answer %v", hb)
	}

	// F01: remote start, authorisation first; the station starts with
	// triggerReason RemoteStart and our remoteStartId.
	st.On("RequestStartTransaction", testserver.Accepted)
	if s, err := h.svc.RemoteStart(ctx, "CP01", 1, "04A1B2C3"); err != nil || s != "Accepted" {
		t.Fatalf("F01 RequestStartTransaction = %q, %v", s, err)
	}
	req := last("RequestStartTransaction")
	if req["evseId"] != 1.0 || req["idToken"].(map[string]any)["idToken"] != "04A1B2C3" || req["remoteStartId"] == nil {
		t.Errorf("F01 request %v", req)
	}
	res := txEvent("Started", "RemoteStart", "f01", 0, 1, map[string]any{"remoteStartId": req["remoteStartId"], "chargingState": "Charging"},
		map[string]any{"idToken": map[string]any{"idToken": "04A1B2C3", "type": "ISO14443"}, "meterValue": energy(1000)})
	if tokenStatus(res) != "Accepted" {
		t.Errorf("F01 Started answered %v", res)
	}
	if c := conn(1); c.Session == nil || c.Session.TransactionID != "f01" || c.Session.Group != "fleet" || c.Status != "Charging" {
		t.Fatalf("F01 session %+v status %s", c.Session, c.Status)
	}

	// J02: periodic meter values in the transaction.
	txEvent("Updated", "MeterValuePeriodic", "f01", 1, 1, nil, map[string]any{"meterValue": energy(4000,
		map[string]any{"value": 11000, "measurand": "Power.Active.Import", "unitOfMeasure": map[string]any{"unit": "W"}})})
	if c := conn(1); c.Session.EnergyWh() != 3000 || c.PowerW != 11000 {
		t.Errorf("J02: session energy %v Wh, power %v W; want 3000, 11000", c.Session.EnergyWh(), c.PowerW)
	}
	// J01: meter values outside a transaction, on EVSE 2.
	st.OK("MeterValues", map[string]any{"evseId": 2, "meterValue": energy(500)})
	if c := conn(2); c.EnergyWh != 500 {
		t.Errorf("J01: EVSE 2 register %v, want 500", c.EnergyWh)
	}

	// F06: trigger a StatusNotification for EVSE 2 (with its connector).
	st.On("TriggerMessage", testserver.Accepted)
	if s, err := h.svc.Trigger(ctx, "CP01", 2, "StatusNotification"); err != nil || s != "Accepted" {
		t.Fatalf("F06 TriggerMessage = %q, %v", s, err)
	}
	if ev, _ := last("TriggerMessage")["evse"].(map[string]any); ev == nil || ev["id"] != 2.0 || ev["connectorId"] != 1.0 {
		t.Errorf("F06 request %v: a StatusNotification trigger names the connector", last("TriggerMessage"))
	}
	status(2, "Occupied")
	if conn(2).Status == "Available" {
		t.Errorf("F06: triggered status not applied: %s", conn(2).Status)
	}

	// F02: cable first on EVSE 2, then a remote start with the second van's
	// card: the transaction gets the token in an Updated event.
	txEvent("Started", "CablePluggedIn", "f02", 0, 2, nil, map[string]any{"meterValue": energy(500)})
	if s, err := h.svc.RemoteStart(ctx, "CP01", 2, "04A1B2C4"); err != nil || s != "Accepted" {
		t.Fatalf("F02 RequestStartTransaction = %q, %v", s, err)
	}
	res = txEvent("Updated", "RemoteStart", "f02", 1, 2, map[string]any{"remoteStartId": last("RequestStartTransaction")["remoteStartId"]},
		map[string]any{"idToken": map[string]any{"idToken": "04A1B2C4", "type": "ISO14443"}})
	if tokenStatus(res) != "Accepted" {
		t.Errorf("F02 Updated answered %v", res)
	}
	if c := conn(2); c.Session == nil || c.Session.IdTag != "04A1B2C4" || c.Session.Group != "fleet" {
		t.Errorf("F02 session %+v", c.Session)
	}

	// F03: remote stop; the station ends with RemoteStop / Remote.
	st.On("RequestStopTransaction", testserver.Accepted)
	if s, err := h.svc.RemoteStop(ctx, "CP01", "f01"); err != nil || s != "Accepted" || last("RequestStopTransaction")["transactionId"] != "f01" {
		t.Fatalf("F03 RequestStopTransaction = %q, %v (%v)", s, err, last("RequestStopTransaction"))
	}
	txEvent("Ended", "RemoteStop", "f01", 2, 1, map[string]any{"stoppedReason": "Remote"}, map[string]any{"meterValue": energy(5000)})
	h.rec.WaitFor(t, "F03 session stopped Remote with 4000 Wh", 1, func(s sample.Sample) bool {
		return s.Measurement == "session" && s.Fields["transaction_id"] == "f01" && s.Fields["stop_reason"] == "Remote" && s.Fields["energy_wh"] == 4000.0
	})
	if conn(1).Session != nil {
		t.Errorf("F03: EVSE 1 still shows session %+v", conn(1).Session)
	}
	// F04: a stop for a transaction the station does not know is Rejected.
	st.On("RequestStopTransaction", func(map[string]any) (any, string) { return map[string]any{"status": "Rejected"}, "" })
	if s, err := h.svc.RemoteStop(ctx, "CP01", "nope"); err != nil || s != "Rejected" {
		t.Errorf("F04 = %q, %v", s, err)
	}

	// F05: unlock connector 1 of EVSE 1.
	st.On("UnlockConnector", func(map[string]any) (any, string) { return map[string]any{"status": "Unlocked"}, "" })
	if s, err := h.svc.Unlock(ctx, "CP01", 1); err != nil || s != "Unlocked" {
		t.Errorf("F05 UnlockConnector = %q, %v", s, err)
	}
	if r := last("UnlockConnector"); r["evseId"] != 1.0 || r["connectorId"] != 1.0 {
		t.Errorf("F05 request %v", r)
	}

	// G03: EVSE 1 inoperative, the station reports Unavailable; G04: the
	// whole station (no evse in the request).
	st.On("ChangeAvailability", testserver.Accepted)
	if s, err := h.svc.ChangeAvailability(ctx, "CP01", 1, false); err != nil || s != "Accepted" {
		t.Fatalf("G03 = %q, %v", s, err)
	}
	if r := last("ChangeAvailability"); r["operationalStatus"] != "Inoperative" || r["evse"].(map[string]any)["id"] != 1.0 {
		t.Errorf("G03 request %v", r)
	}
	status(1, "Unavailable")
	if conn(1).Status != "Unavailable" {
		t.Errorf("G03: EVSE 1 %s", conn(1).Status)
	}
	if s, err := h.svc.ChangeAvailability(ctx, "CP01", 0, true); err != nil || s != "Accepted" {
		t.Fatalf("G04 = %q, %v", s, err)
	}
	if r := last("ChangeAvailability"); r["operationalStatus"] != "Operative" || r["evse"] != nil {
		t.Errorf("G04 request %v: the station as a whole has no evse", r)
	}
	status(1, "Available")
	if conn(1).Status != "Available" {
		t.Errorf("G04: EVSE 1 %s", conn(1).Status)
	}
}
