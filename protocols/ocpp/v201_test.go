package ocpp_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/sample"
)

// An OCPP 2.0.1 station on the same listener: boot, status, a transaction
// through TransactionEvent Started/Updated/Ended, and a limit per EVSE.
func TestOCPP201_TransactionAndLimit(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	c := dialRaw(t, h, "CP02", "ocpp2.0.1")
	if c.Subprotocol() != "ocpp2.0.1" {
		t.Fatalf("negotiated %q", c.Subprotocol())
	}
	ok := func(resp []any) map[string]any {
		t.Helper()
		if resp[0].(float64) != 3 {
			t.Fatalf("answer %v", resp)
		}
		return resp[2].(map[string]any)
	}
	boot := ok(rawCall(t, c, `[2,"1","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}]`))
	if boot["status"] != "Accepted" {
		t.Fatalf("boot %v", boot)
	}
	ok(rawCall(t, c, `[2,"2","StatusNotification",{"timestamp":"2026-03-02T08:00:00Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}]`))
	started := ok(rawCall(t, c, `[2,"3","TransactionEvent",{"eventType":"Started","timestamp":"2026-03-02T08:00:01Z","triggerReason":"Authorized","seqNo":0,
		"transactionInfo":{"transactionId":"tx-201-a","chargingState":"Charging"},"idToken":{"idToken":"04A1B2C3","type":"ISO14443"},"evse":{"id":1,"connectorId":1},
		"meterValue":[{"timestamp":"2026-03-02T08:00:01Z","sampledValue":[{"value":1000,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}]`))
	if started["idTokenInfo"].(map[string]any)["status"] != "Accepted" {
		t.Errorf("fleet token not accepted: %v", started)
	}
	ok(rawCall(t, c, `[2,"4","TransactionEvent",{"eventType":"Updated","timestamp":"2026-03-02T08:10:00Z","triggerReason":"MeterValuePeriodic","seqNo":1,
		"transactionInfo":{"transactionId":"tx-201-a"},"meterValue":[{"timestamp":"2026-03-02T08:10:00Z","sampledValue":[
		{"value":2.5,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"kWh"}},
		{"value":11000,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},
		{"value":16,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{"unit":"A"}}]}]}]`))
	cs, _ := connector(h, "CP02", 1)
	if cs.Session == nil || cs.Session.TransactionID != "tx-201-a" || cs.EnergyWh != 2500 || cs.PowerW != 11000 || cs.CurrentA[0] != 16 || cs.Status != "Charging" {
		t.Fatalf("snapshot after Updated: %+v", cs)
	}

	// SetLimit while a transaction runs: a TxProfile for that transaction on EVSE 1.
	type result struct {
		res ocpp.LimitResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := h.svc.SetLimit(context.Background(), "CP02", 1, ocpp.Limit{Unit: "W", Value: 4140, Phases: 1})
		done <- result{r, err}
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var call []any
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(data, &call)
		if call[2] == "SetChargingProfile" {
			break
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`[3,"`+call[1].(string)+`",{"setVariableResult":[{"attributeStatus":"Accepted","component":{"name":"SampledDataCtrlr"},"variable":{"name":"TxUpdatedInterval"}}]}]`))
	}
	req := call[3].(map[string]any)
	prof := req["chargingProfile"].(map[string]any)
	if req["evseId"].(float64) != 1 || prof["chargingProfilePurpose"] != "TxProfile" || prof["transactionId"] != "tx-201-a" {
		t.Errorf("SetChargingProfile = %v", req)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte(`[3,"`+call[1].(string)+`",{"status":"Accepted"}]`))
	if r := <-done; r.err != nil || r.res.Status != ocpp.LimitConfirmed {
		t.Fatalf("SetLimit = %+v", r)
	}

	ok(rawCall(t, c, `[2,"5","TransactionEvent",{"eventType":"Ended","timestamp":"2026-03-02T08:30:00Z","triggerReason":"EVDeparted","seqNo":2,
		"transactionInfo":{"transactionId":"tx-201-a","stoppedReason":"EVDisconnected"},"meterValue":[{"timestamp":"2026-03-02T08:30:00Z","sampledValue":[
		{"value":4000,"measurand":"Energy.Active.Import.Register"}]}]}]`))
	stopped := h.rec.Find(measurement("session", "state", "stopped"))
	if len(stopped) != 1 || stopped[0].Fields["energy_wh"] != 3000.0 || stopped[0].Fields["stop_reason"] != "EVDisconnected" || stopped[0].Tags["group"] != "fleet" {
		t.Fatalf("stopped sessions = %+v", stopped)
	}
	if want := time.Date(2026, 3, 2, 8, 30, 0, 0, time.UTC); !stopped[0].Time.Truncate(time.Millisecond).Equal(want) { // Distinct: sub-ms offset
		t.Errorf("session stop time %v, want the charger's %v", stopped[0].Time, want)
	}
	if ev := h.rec.Find(func(s sample.Sample) bool { return s.Tags["kind"] == "session_started" }); len(ev) != 1 {
		t.Errorf("session_started events = %d", len(ev))
	}
	// Bad input on 2.0.1 uses the 2.0.1 code name.
	if resp := rawCall(t, c, `[2,"6","Heartbeat",[]]`); resp[0].(float64) != 4 || resp[2] != "FormatViolation" {
		t.Errorf("malformed 2.0.1 payload answer %v, want FormatViolation", resp)
	}
}
