package ocpp_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// One "NaN" reading must not break the charger: it is dropped and counted at
// the driver's edge, the rest of the message is kept, and every later message
// (on any connector) is answered normally.
func TestMeterValues_NonFiniteRejectedNotStored(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	c := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, c)
	now := time.Now().UTC().Format(time.RFC3339)
	for _, v := range []string{"NaN", "Inf", "-Infinity", "1e999"} {
		resp := rawCall(t, c, `[2,"m1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"`+now+`","sampledValue":[
			{"value":"`+v+`","measurand":"Power.Active.Import","unit":"W"},{"value":"1234","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}]`)
		if resp[0].(float64) != 3 {
			t.Fatalf("MeterValues with %s answered %v", v, resp)
		}
	}
	if resp := rawCall(t, c, `[2,"s1","StatusNotification",{"connectorId":2,"errorCode":"NoError","status":"Preparing"}]`); resp[0].(float64) != 3 {
		t.Fatalf("StatusNotification after NaN answered %v", resp)
	}
	if resp := rawCall(t, c, `[2,"s2","StartTransaction",{"connectorId":2,"idTag":"04A1B2C3","meterStart":0,"timestamp":"`+now+`"}]`); resp[0].(float64) != 3 {
		t.Fatalf("StartTransaction after NaN answered %v", resp)
	}
	cs, _ := connector(h, "CP01", 1)
	if math.IsNaN(cs.PowerW) || math.IsInf(cs.PowerW, 0) || cs.EnergyWh != 1234 {
		t.Errorf("live state power %v energy %v", cs.PowerW, cs.EnergyWh)
	}
	for _, s := range h.rec.Find(func(s sample.Sample) bool { return s.Measurement == "evse" }) {
		if _, ok := s.Fields["power_w"]; ok {
			t.Errorf("non-finite power stored: %+v", s)
		}
	}
	if got := counter(h, "CP01", "rejected_nonfinite"); got != 4 {
		t.Errorf("rejected_nonfinite = %d, want 4", got)
	}
	// 2.0.1: a multiplier that overflows to +Inf.
	c2 := dialRaw(t, h, "CP02", "ocpp2.0.1")
	rawCall(t, c2, `[2,"1","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}]`)
	resp := rawCall(t, c2, `[2,"2","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"`+now+`","sampledValue":[
		{"value":1e300,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W","multiplier":9}}]}]}]`)
	if resp[0].(float64) != 3 || counter(h, "CP02", "rejected_nonfinite") != 1 {
		t.Errorf("2.0.1 overflowing value: answer %v, counted %d", resp, counter(h, "CP02", "rejected_nonfinite"))
	}
}

// A reading stamped far in the future must not freeze the connector's live
// state (later real readings would look older) nor reach InfluxDB at 2099.
func TestFutureTimestamp_NeverFreezesLiveState(t *testing.T) {
	db := openDB(t)
	h := start(t, baseConfig(), db, &recorder{})
	c := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, c)
	mv := func(at string, power int) {
		t.Helper()
		resp := rawCall(t, c, fmt.Sprintf(`[2,"m","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"%s","sampledValue":[
			{"value":"%d","measurand":"Power.Active.Import","unit":"W"}]}]}]`, at, power))
		if resp[0].(float64) != 3 {
			t.Fatalf("MeterValues answered %v", resp)
		}
	}
	mv("2099-01-01T00:00:00Z", 9999)
	mv(time.Now().UTC().Format(time.RFC3339), 1500)
	if cs, _ := connector(h, "CP01", 1); cs.PowerW != 1500 || cs.MeterAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("live state after a 2099 reading and a real one: power %v at %v", cs.PowerW, cs.MeterAt)
	}
	for _, s := range h.rec.Find(func(s sample.Sample) bool { return s.Measurement == "evse" }) {
		if s.Time.After(time.Now().Add(time.Minute)) {
			t.Errorf("sample stored at %v", s.Time)
		}
	}
	if counter(h, "CP01", "untrusted_timestamp") == 0 {
		t.Error("untrusted timestamp not counted")
	}
	h.stop()
	h = start(t, baseConfig(), db, &recorder{})
	if cs, _ := connector(h, "CP01", 1); cs.MeterAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("future time persisted: %v", cs.MeterAt)
	}
}

// 2.0.1 allows TransactionEvent Started without a meter value: the session's
// start is the first register seen in the transaction, not 0 (which made a
// 44 Wh session report the lifetime register of 100,044 Wh).
func TestOCPP201_StartedWithoutMeterValue(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	c := dialRaw(t, h, "CP02", "ocpp2.0.1")
	rawCall(t, c, `[2,"1","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}]`)
	ev := func(n int, typ, trig, extra string) {
		t.Helper()
		resp := rawCall(t, c, fmt.Sprintf(`[2,"t%d","TransactionEvent",{"eventType":"%s","timestamp":"2026-03-02T08:%02d:00Z","triggerReason":"%s","seqNo":%d,
			"transactionInfo":{"transactionId":"tx-44"},"evse":{"id":1,"connectorId":1}%s}]`, n, typ, n, trig, n, extra))
		if resp[0].(float64) != 3 {
			t.Fatalf("%s answered %v", typ, resp)
		}
	}
	reg := func(wh int) string {
		return fmt.Sprintf(`,"meterValue":[{"timestamp":"2026-03-02T08:05:00Z","sampledValue":[{"value":%d,"measurand":"Energy.Active.Import.Register"}]}]`, wh)
	}
	ev(0, "Started", "Authorized", `,"idToken":{"idToken":"04A1B2C3","type":"ISO14443"}`)
	ev(1, "Updated", "MeterValuePeriodic", reg(100000))
	ev(2, "Updated", "MeterValuePeriodic", reg(100030))
	ev(3, "Ended", "EVDeparted", reg(100044))
	stopped := h.rec.WaitFor(t, "stopped session", 1, measurement("session", "state", "stopped"))
	if got := stopped[0].Fields["energy_wh"]; got != 44.0 {
		t.Errorf("session energy %v Wh, want 44", got)
	}
}

// E02: cable plugged in first, the idToken authorised later in
// TransactionEvent Updated. The session must get the tag's group and
// departure, so the office's van is not treated as a stranger.
func TestOCPP201_E02_CableFirstTokenLater(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	c := dialRaw(t, h, "CP02", "ocpp2.0.1")
	rawCall(t, c, `[2,"1","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}]`)
	rawCall(t, c, `[2,"2","TransactionEvent",{"eventType":"Started","timestamp":"2026-03-02T08:00:00Z","triggerReason":"CablePluggedIn","seqNo":0,
		"transactionInfo":{"transactionId":"tx-e02","chargingState":"EVConnected"},"evse":{"id":1,"connectorId":1},
		"meterValue":[{"timestamp":"2026-03-02T08:00:00Z","sampledValue":[{"value":500,"measurand":"Energy.Active.Import.Register"}]}]}]`)
	if cs, _ := connector(h, "CP02", 1); cs.Session == nil || cs.Session.Group != "unknown" {
		t.Fatalf("session before the token: %+v", cs.Session)
	}
	resp := rawCall(t, c, `[2,"3","TransactionEvent",{"eventType":"Updated","timestamp":"2026-03-02T08:01:00Z","triggerReason":"Authorized","seqNo":1,
		"transactionInfo":{"transactionId":"tx-e02"},"idToken":{"idToken":"04A1B2C3","type":"ISO14443"}}]`)
	if st := resp[2].(map[string]any)["idTokenInfo"].(map[string]any)["status"]; st != "Accepted" {
		t.Errorf("token in Updated answered %v", st)
	}
	cs, _ := connector(h, "CP02", 1)
	if ss := cs.Session; ss == nil || ss.IdTag != "04A1B2C3" || ss.Group != "fleet" || ss.Departure != "07:30" {
		t.Fatalf("session after the token: %+v", ss)
	}
	h.rec.WaitFor(t, "session_authorized event", 1, kind("session_authorized"))
	rawCall(t, c, `[2,"4","TransactionEvent",{"eventType":"Ended","timestamp":"2026-03-02T09:00:00Z","triggerReason":"EVDeparted","seqNo":2,
		"transactionInfo":{"transactionId":"tx-e02","stoppedReason":"EVDisconnected"},
		"meterValue":[{"timestamp":"2026-03-02T09:00:00Z","sampledValue":[{"value":7500,"measurand":"Energy.Active.Import.Register"}]}]}]`)
	stopped := h.rec.WaitFor(t, "stopped session", 1, measurement("session", "state", "stopped"))
	if s := stopped[0]; s.Tags["group"] != "fleet" || s.Fields["id_tag"] != "04A1B2C3" || s.Fields["energy_wh"] != 7000.0 {
		t.Errorf("stopped session %+v", s)
	}
}

// StatusNotification (and MeterValues, StartTransaction) for a connector the
// charger does not have is refused with PropertyConstraintViolation, not
// accepted into state; an unknown message type gets MessageTypeNotSupported
// like any other unsupported type.
func TestProtocolCorners_ConnectorRangeAndMessageType(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	c := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, c)
	for _, frame := range []string{
		`[2,"c1","StatusNotification",{"connectorId":99,"errorCode":"NoError","status":"Available"}]`,
		`[2,"c2","StatusNotification",{"connectorId":3,"errorCode":"NoError","status":"Available"}]`,
		`[2,"c3","MeterValues",{"connectorId":7,"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":"1"}]}]}]`,
		`[2,"c4","StartTransaction",{"connectorId":5,"idTag":"04A1B2C3","meterStart":0,"timestamp":"2026-01-01T10:00:00Z"}]`,
	} {
		resp := rawCall(t, c, frame)
		if resp[0].(float64) != 4 || resp[2] != "PropertyConstraintViolation" {
			t.Errorf("%s answered %v, want PropertyConstraintViolation", frame[:40], resp)
		}
	}
	for _, cs := range h.svc.Snapshot() {
		if cs.ChargerID == "CP01" && cs.Connector > 2 {
			t.Errorf("connector %d entered state", cs.Connector)
		}
	}
	for i, frame := range []string{`[5,"%s","Heartbeat",{}]`, `[99,"%s","Heartbeat",{}]`, `[0,"%s",{}]`, `[99,"%s"]`, `[7,"%s",{},{},{},{}]`} {
		id := fmt.Sprintf("x%d", i)
		frame = fmt.Sprintf(frame, id)
		resp := rawCall(t, c, frame)
		if resp[0].(float64) != 4 || resp[1] != id || resp[2] != "MessageTypeNotSupported" {
			t.Errorf("%s answered %v, want MessageTypeNotSupported", frame, resp)
		}
	}
	if resp := rawCall(t, c, `[2,"h","Heartbeat",{}]`); resp[0].(float64) != 3 {
		t.Errorf("connection broken after corner cases: %v", resp)
	}
}
