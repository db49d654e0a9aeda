package ocpp_test

import (
	"testing"

	"github.com/polis-edge/polis/protocols/testserver"
)

// E (offline, E14): a station that comes back with a gap in a transaction's
// seqNo is asked GetTransactionStatus; with nothing left in its queue the
// missing messages are reported, with messages still queued the edge waits.
func TestStrict201_SeqNoGapAsksTransactionStatus(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	st := testserver.NewStation(t, h.url(), "CP01", "ocpp2.0.1", "")
	st.OK("BootNotification", map[string]any{"reason": "PowerUp", "chargingStation": map[string]any{"model": "strict", "vendorName": "ocpp-rpc"}})
	queued := map[string]bool{"tx-lost": false, "tx-queued": true}
	st.On("GetTransactionStatus", func(p map[string]any) (any, string) {
		return map[string]any{"messagesInQueue": queued[p["transactionId"].(string)], "ongoingIndicator": true}, ""
	})
	ev := func(tx string, evse, seq int, typ string, offline bool) {
		t.Helper()
		st.OK("TransactionEvent", map[string]any{"eventType": typ, "timestamp": testserver.NowISO(), "triggerReason": "MeterValuePeriodic",
			"seqNo": seq, "offline": offline, "transactionInfo": map[string]any{"transactionId": tx}, "evse": map[string]any{"id": evse, "connectorId": 1}})
	}
	for evse, tx := range map[int]string{1: "tx-lost", 2: "tx-queued"} {
		ev(tx, evse, 0, "Started", false)
		ev(tx, evse, 1, "Updated", false)
		ev(tx, evse, 4, "Updated", true) // 2 and 3 missing
	}
	eventually(t, "GetTransactionStatus for both transactions", func() bool { return len(st.Received("GetTransactionStatus")) == 2 })
	lost := h.rec.WaitFor(t, "transaction_messages_lost", 1, kind("transaction_messages_lost"))
	if len(lost) != 1 || lost[0].Fields["transaction_id"] != "tx-lost" || lost[0].Fields["missing"] != int64(2) {
		t.Errorf("lost events %+v, want one for tx-lost with 2 missing", lost)
	}
	// The queued messages arrive: no new gap, nothing more asked.
	ev("tx-queued", 2, 2, "Updated", true)
	ev("tx-queued", 2, 3, "Updated", true)
	ev("tx-queued", 2, 5, "Ended", false)
	if n := len(st.Received("GetTransactionStatus")); n != 2 {
		t.Errorf("GetTransactionStatus asked %d times, want 2", n)
	}
}
