package ocpp_test

import (
	"testing"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/testserver"
)

// ConcurrentTx: a card already in a running transaction at the office is
// answered ConcurrentTx on another connector (1.6 StartTransaction), on
// another charger (2.0.1 Authorize, TransactionEvent Started) and to
// Authorize, while its repeated start, another card of its group and the
// group token itself stay Accepted; once its transactions end it is
// Accepted again. Both stations are the strict ocpp-rpc one.
func TestStrict_ConcurrentTx(t *testing.T) {
	cfg := baseConfig()
	cfg.Auth.Tags = []ocpp.TagConfig{
		{ID: "04A1B2C3", Group: "fleet", Parent: "POLIS-FLEET"},
		{ID: "04A1B2C4", Group: "fleet", Parent: "POLIS-FLEET"},
		{ID: "POLIS-FLEET", Group: "fleet"},
	}
	h := start(t, cfg, openDB(t), &recorder{})
	cp16 := testserver.NewStation(t, h.url(), "CP01", "ocpp1.6", "")
	cp201 := testserver.NewStation(t, h.url(), "CP02", "ocpp2.0.1", "")
	cp16.OK("BootNotification", map[string]any{"chargePointVendor": "ocpp-rpc", "chargePointModel": "strict"})
	cp201.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
	info16 := func(res map[string]any) string { return res["idTagInfo"].(map[string]any)["status"].(string) }
	info201 := func(res map[string]any) string { return res["idTokenInfo"].(map[string]any)["status"].(string) }
	auth16 := func(tag string) string { return info16(cp16.OK("Authorize", map[string]any{"idTag": tag})) }
	auth201 := func(tag string) string {
		return info201(cp201.OK("Authorize", map[string]any{"idToken": map[string]any{"idToken": tag, "type": "ISO14443"}}))
	}
	startAt := testserver.NowISO()
	start16 := func(conn int, tag string) (string, float64) {
		res := cp16.OK("StartTransaction", map[string]any{"connectorId": conn, "idTag": tag, "meterStart": 100, "timestamp": startAt})
		return info16(res), res["transactionId"].(float64)
	}
	st, tx1 := start16(1, "04A1B2C3")
	if st != "Accepted" {
		t.Fatalf("first start: %s", st)
	}
	if st, again := start16(1, "04A1B2C3"); st != "Accepted" || again != tx1 {
		t.Errorf("repeated start: %s tx %v, want Accepted tx %v", st, again, tx1)
	}
	st, tx2 := start16(2, "04a1b2c3") // readers differ on hex case
	if st != "ConcurrentTx" {
		t.Errorf("same card on connector 2: %s, want ConcurrentTx", st)
	}
	if got := auth16("04A1B2C3"); got != "ConcurrentTx" {
		t.Errorf("1.6 Authorize of the card in use: %s", got)
	}
	for _, tag := range []string{"04A1B2C4", "POLIS-FLEET"} {
		if got := auth16(tag); got != "Accepted" {
			t.Errorf("1.6 Authorize %s (same group): %s, want Accepted", tag, got)
		}
		if got := auth201(tag); got != "Accepted" {
			t.Errorf("2.0.1 Authorize %s (same group): %s, want Accepted", tag, got)
		}
	}
	if got := auth201("04A1B2C3"); got != "ConcurrentTx" {
		t.Errorf("2.0.1 Authorize of a card in use on another charger: %s", got)
	}
	txEvent := func(kind, txID string, seq int, tag string) string {
		p := map[string]any{"eventType": kind, "timestamp": testserver.NowISO(), "triggerReason": "Authorized", "seqNo": seq,
			"transactionInfo": map[string]any{"transactionId": txID}, "evse": map[string]any{"id": 1, "connectorId": 1},
			"idToken": map[string]any{"idToken": tag, "type": "ISO14443"}}
		if kind == "Ended" {
			p["triggerReason"], p["transactionInfo"] = "Deauthorized", map[string]any{"transactionId": txID, "stoppedReason": "DeAuthorized"}
			delete(p, "idToken")
			cp201.OK("TransactionEvent", p)
			return ""
		}
		return info201(cp201.OK("TransactionEvent", p))
	}
	if got := txEvent("Started", "c-1", 0, "04A1B2C3"); got != "ConcurrentTx" {
		t.Errorf("2.0.1 Started with a card in use: %s", got)
	}
	txEvent("Ended", "c-1", 1, "")
	if got := txEvent("Started", "c-2", 0, "04A1B2C4"); got != "Accepted" {
		t.Errorf("2.0.1 Started with a sibling card: %s", got)
	}

	// The charger lost the transactions (its connectors say Available, no
	// stop will come): the card must not stay locked out everywhere.
	for _, c := range []int{1, 2} {
		cp16.OK("StatusNotification", map[string]any{"connectorId": c, "errorCode": "NoError", "status": "Available"})
	}
	if got := auth201("04A1B2C3"); got != "Accepted" {
		t.Errorf("card of a lost transaction (connector Available): %s, want Accepted", got)
	}
	for _, c := range []int{1, 2} {
		cp16.OK("StatusNotification", map[string]any{"connectorId": c, "errorCode": "NoError", "status": "Charging"})
	}
	if got := auth201("04A1B2C3"); got != "ConcurrentTx" {
		t.Errorf("card charging again: %s, want ConcurrentTx", got)
	}
	for _, tx := range []float64{tx1, tx2} {
		cp16.OK("StopTransaction", map[string]any{"transactionId": tx, "meterStop": 200, "timestamp": testserver.NowISO()})
	}
	if got := auth201("04A1B2C3"); got != "Accepted" {
		t.Errorf("after its transactions ended: %s, want Accepted", got)
	}
}
