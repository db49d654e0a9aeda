package ocpp_test

import (
	"strconv"
	"testing"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

// The 1.6 counterparts of the 2.0.1 F/G/J sequences (1.6 §5.11 remote
// start, §5.12 remote stop, §5.18 unlock, §5.17 trigger, §5.2 change
// availability, §4.7 meter values, §4.9 status) against the strict station.
func TestStrict16_RemoteControlAvailabilityMeterValues(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	st := testserver.NewStation(t, h.url(), "CP01", "ocpp1.6", "")
	ctx := t.Context()
	conn := func(n int) ocpp.ConnectorState { c, _ := connector(h, "CP01", n); return c }
	last := st.Last
	status := func(c int, s string) {
		st.OK("StatusNotification", map[string]any{"connectorId": c, "errorCode": "NoError", "status": s, "timestamp": testserver.NowISO()})
	}
	meter := func(c int, tx any, wh string, more ...map[string]any) {
		sv := []any{map[string]any{"value": wh, "measurand": "Energy.Active.Import.Register", "unit": "Wh"}}
		for _, m := range more {
			sv = append(sv, m)
		}
		p := map[string]any{"connectorId": c, "meterValue": []any{map[string]any{"timestamp": testserver.NowISO(), "sampledValue": sv}}}
		if tx != nil {
			p["transactionId"] = tx
		}
		st.OK("MeterValues", p)
	}

	st.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
	status(0, "Available")
	status(1, "Available")
	status(2, "Available")
	if conn(1).Status != "Available" || conn(2).Status != "Available" {
		t.Fatalf("status: %+v %+v", conn(1), conn(2))
	}

	// Remote start: the charger accepts, prepares and starts with the tag.
	st.On("RemoteStartTransaction", testserver.Accepted)
	if s, err := h.svc.RemoteStart(ctx, "CP01", 1, "04A1B2C3"); err != nil || s != "Accepted" {
		t.Fatalf("RemoteStartTransaction = %q, %v", s, err)
	}
	if r := last("RemoteStartTransaction"); r["idTag"] != "04A1B2C3" || r["connectorId"] != 1.0 {
		t.Errorf("RemoteStartTransaction request %v", r)
	}
	status(1, "Preparing")
	res := st.OK("StartTransaction", map[string]any{"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 1000, "timestamp": testserver.NowISO()})
	tx := res["transactionId"]
	if res["idTagInfo"].(map[string]any)["status"] != "Accepted" {
		t.Fatalf("StartTransaction answered %v", res)
	}
	status(1, "Charging")
	if c := conn(1); c.Session == nil || c.Session.Group != "fleet" || c.Status != "Charging" {
		t.Fatalf("session %+v status %s", c.Session, c.Status)
	}

	// Meter values in the transaction and, on connector 2, outside one.
	meter(1, tx, "4000", map[string]any{"value": "11000", "measurand": "Power.Active.Import", "unit": "W"})
	if c := conn(1); c.Session.EnergyWh() != 3000 || c.PowerW != 11000 {
		t.Errorf("in transaction: %v Wh, %v W; want 3000, 11000", c.Session.EnergyWh(), c.PowerW)
	}
	meter(2, nil, "500")
	if conn(2).EnergyWh != 500 {
		t.Errorf("connector 2 register %v, want 500", conn(2).EnergyWh)
	}

	// Trigger: StatusNotification for connector 2 only.
	st.On("TriggerMessage", testserver.Accepted)
	if s, err := h.svc.Trigger(ctx, "CP01", 2, "StatusNotification"); err != nil || s != "Accepted" {
		t.Fatalf("TriggerMessage = %q, %v", s, err)
	}
	if r := last("TriggerMessage"); r["requestedMessage"] != "StatusNotification" || r["connectorId"] != 2.0 {
		t.Errorf("TriggerMessage request %v", r)
	}

	// Remote stop: the charger stops with reason Remote.
	st.On("RemoteStopTransaction", testserver.Accepted)
	if s, err := h.svc.RemoteStop(ctx, "CP01", ocppTx(tx)); err != nil || s != "Accepted" || last("RemoteStopTransaction")["transactionId"] != tx {
		t.Fatalf("RemoteStopTransaction = %q, %v (%v)", s, err, last("RemoteStopTransaction"))
	}
	st.OK("StopTransaction", map[string]any{"transactionId": tx, "meterStop": 5000, "timestamp": testserver.NowISO(), "reason": "Remote"})
	status(1, "Finishing")
	h.rec.WaitFor(t, "session stopped Remote with 4000 Wh", 1, func(s sample.Sample) bool {
		return s.Measurement == "session" && s.Fields["stop_reason"] == "Remote" && s.Fields["energy_wh"] == 4000.0
	})

	// Unlock: the cable of connector 1 is released.
	st.On("UnlockConnector", func(map[string]any) (any, string) { return map[string]any{"status": "Unlocked"}, "" })
	if s, err := h.svc.Unlock(ctx, "CP01", 1); err != nil || s != "Unlocked" || last("UnlockConnector")["connectorId"] != 1.0 {
		t.Errorf("UnlockConnector = %q, %v", s, err)
	}

	// Change availability: connector 1 Inoperative, then the whole charger Operative.
	st.On("ChangeAvailability", testserver.Accepted)
	if s, err := h.svc.ChangeAvailability(ctx, "CP01", 1, false); err != nil || s != "Accepted" {
		t.Fatalf("ChangeAvailability = %q, %v", s, err)
	}
	if r := last("ChangeAvailability"); r["connectorId"] != 1.0 || r["type"] != "Inoperative" {
		t.Errorf("ChangeAvailability request %v", r)
	}
	status(1, "Unavailable")
	if conn(1).Status != "Unavailable" {
		t.Errorf("connector 1 %s", conn(1).Status)
	}
	if s, err := h.svc.ChangeAvailability(ctx, "CP01", 0, true); err != nil || s != "Accepted" || last("ChangeAvailability")["connectorId"] != 0.0 {
		t.Errorf("ChangeAvailability(0) = %q, %v", s, err)
	}
	status(1, "Available")
	if conn(1).Status != "Available" {
		t.Errorf("connector 1 %s", conn(1).Status)
	}
}

func ocppTx(v any) string {
	f, _ := v.(float64)
	return strconv.Itoa(int(f))
}
