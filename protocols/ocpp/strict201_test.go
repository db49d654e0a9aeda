package ocpp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

func evse1() map[string]any { return map[string]any{"id": 1, "connectorId": 1} }

// Every message a 2.0.1 station may send is answered with its defined,
// schema-valid response (checked by ocpp-rpc in strict mode), never
// NotImplemented; NotifyEvent reaches state, events and health, and
// NotifyEVChargingNeeds reaches the session the rules read.
func TestStrict201_EveryStationMessageAnswered(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	st := testserver.NewStation(t, h.url(), "CP02", "ocpp2.0.1", "")
	boot := st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "Strict", "vendorName": "ocpp-rpc"}})
	if boot["status"] != "Accepted" {
		t.Fatalf("boot %v", boot)
	}
	now := testserver.NowISO()
	later := time.Now().Add(3 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	sched := map[string]any{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}
	msgs := []struct {
		action string
		params map[string]any
	}{
		{"Heartbeat", map[string]any{}},
		{"StatusNotification", map[string]any{"timestamp": now, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}},
		{"Authorize", map[string]any{"idToken": map[string]any{"idToken": "04A1B2C3", "type": "ISO14443"}}},
		{"TransactionEvent", map[string]any{"eventType": "Started", "timestamp": now, "triggerReason": "Authorized", "seqNo": 0,
			"transactionInfo": map[string]any{"transactionId": "strict-1", "chargingState": "Charging"}, "evse": evse1(),
			"idToken": map[string]any{"idToken": "04A1B2C3", "type": "ISO14443"}}},
		{"MeterValues", map[string]any{"evseId": 1, "meterValue": []any{map[string]any{"timestamp": now, "sampledValue": []any{map[string]any{"value": 1234.5}}}}}},
		{"NotifyEvent", map[string]any{"generatedAt": now, "seqNo": 0, "eventData": []any{
			map[string]any{"eventId": 1, "timestamp": now, "trigger": "Delta", "actualValue": "Occupied", "eventNotificationType": "HardWiredNotification",
				"component": map[string]any{"name": "Connector", "evse": evse1()}, "variable": map[string]any{"name": "AvailabilityState"}},
			map[string]any{"eventId": 2, "timestamp": now, "trigger": "Alerting", "actualValue": "true", "techInfo": "RCD tripped", "eventNotificationType": "HardWiredNotification",
				"component": map[string]any{"name": "ChargingStation"}, "variable": map[string]any{"name": "Problem"}},
		}}},
		{"NotifyEVChargingNeeds", map[string]any{"evseId": 1, "chargingNeeds": map[string]any{"requestedEnergyTransfer": "AC_three_phase", "departureTime": later,
			"acChargingParameters": map[string]any{"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 400}}}},
		{"NotifyEVChargingSchedule", map[string]any{"timeBase": now, "evseId": 1, "chargingSchedule": sched}},
		{"NotifyChargingLimit", map[string]any{"evseId": 1, "chargingLimit": map[string]any{"chargingLimitSource": "SO", "isGridCritical": true}}},
		{"ClearedChargingLimit", map[string]any{"chargingLimitSource": "SO", "evseId": 1}},
		{"ReportChargingProfiles", map[string]any{"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": []any{map[string]any{
			"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative", "chargingSchedule": []any{sched}}}}},
		{"NotifyReport", map[string]any{"requestId": 1, "generatedAt": now, "seqNo": 0}},
		{"NotifyMonitoringReport", map[string]any{"requestId": 1, "generatedAt": now, "seqNo": 0}},
		{"SecurityEventNotification", map[string]any{"type": "TamperDetectionActivated", "timestamp": now}},
		{"LogStatusNotification", map[string]any{"status": "Idle", "requestId": 1}},
		{"FirmwareStatusNotification", map[string]any{"status": "Installed"}},
		{"PublishFirmwareStatusNotification", map[string]any{"status": "Idle"}},
		{"NotifyDisplayMessages", map[string]any{"requestId": 1}},
		{"NotifyCustomerInformation", map[string]any{"data": "none", "seqNo": 0, "generatedAt": now, "requestId": 1}},
		{"ReservationStatusUpdate", map[string]any{"reservationId": 7, "reservationUpdateStatus": "Expired"}},
		{"SignCertificate", map[string]any{"csr": "-----BEGIN CERTIFICATE REQUEST-----"}},
		{"Get15118EVCertificate", map[string]any{"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "AAAA"}},
		{"GetCertificateStatus", map[string]any{"ocspRequestData": map[string]any{"hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b", "serialNumber": "c", "responderURL": "http://ocsp.example"}}},
		{"DataTransfer", map[string]any{"vendorId": "com.example"}},
		{"TransactionEvent", map[string]any{"eventType": "Updated", "timestamp": now, "triggerReason": "MeterValuePeriodic", "seqNo": 1,
			"transactionInfo": map[string]any{"transactionId": "strict-1"}}},
	}
	for _, m := range msgs {
		if a := st.Call(m.action, m.params); a.Error != nil {
			t.Errorf("%s answered %s (%s)", m.action, a.Error.Code, a.Error.Message)
		}
	}
	cs, _ := connector(h, "CP02", 1)
	if cs.Session == nil || cs.Session.EnergyNeedWh != 20000 || cs.Session.EVDeparture.IsZero() {
		t.Errorf("session after NotifyEVChargingNeeds: %+v", cs.Session)
	}
	if cs.Status != "Charging" {
		t.Errorf("status %q: NotifyEvent Occupied must not hide Charging", cs.Status)
	}
	for _, k := range []string{"charger_problem", "security_event", "external_limit", "external_limit_cleared", "reservation_status", "firmware_status"} {
		h.rec.WaitFor(t, k+" event", 1, kind(k))
	}
	var lastErr string
	for _, d := range h.svc.Devices() {
		if d.ID == "CP02" {
			lastErr = d.LastError
		}
	}
	if !strings.Contains(lastErr, "RCD tripped") {
		t.Errorf("health last error %q, want the active problem", lastErr)
	}
	if ev := h.rec.Find(kind("security_event")); len(ev) != 1 || ev[0].Fields["severity"] != sample.SeverityCritical {
		t.Errorf("tamper security event %+v", ev)
	}
}
