package ocpp

import (
	"context"
	"fmt"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/transactions"
	"github.com/polis-edge/polis/protocols/sample"
)

// 2.0.1 numbers each transaction's TransactionEvents (seqNo, from 0). A gap
// means messages the station has not delivered yet (still in its offline
// queue) or lost. As E14 describes, the edge then asks GetTransactionStatus:
// with messages still queued it waits for them; with none, the missing
// seqNos are gone and an event says so (the session's energy still comes
// from the registers, which are cumulative).

// trackSeq records seqNo for an open transaction and returns the missing
// range [from, to) when it skipped some.
func (s *Service) trackSeq(id, txID string, seqNo int) (from, to int, err error) {
	err = s.do(id, func(c *charger) error {
		ss := c.open[txID]
		if ss == nil {
			return nil
		}
		if ss.SeqNext > 0 && seqNo > ss.SeqNext {
			from, to = ss.SeqNext, seqNo
		}
		if seqNo+1 > ss.SeqNext {
			ss.SeqNext = seqNo + 1
			_, err := s.store.commit(c, []*Session{ss}, nil)
			return err
		}
		return nil
	})
	return from, to, err
}

// checkGap asks the station about a transaction with missing messages.
func (s *Service) checkGap(id, txID string, from, to int) {
	s.stats.inc(id, "seqno_gaps")
	req := transactions.NewGetTransactionStatusRequest()
	req.TransactionID = txID
	resp, err := s.call(context.Background(), id, nil, req)
	if err != nil {
		s.log.Warn("ocpp: GetTransactionStatus failed", "charger", id, "transaction", txID, "err", err)
		return
	}
	r, ok := resp.(*transactions.GetTransactionStatusResponse)
	if !ok || r.MessagesInQueue {
		return // still queued at the station: they will come
	}
	now := time.Now()
	err = s.recordEvents(id, event(id, -1, "transaction_messages_lost", sample.SeverityWarning,
		fmt.Sprintf("charger %s transaction %s: TransactionEvent seqNo %d..%d never arrived and none are queued", id, txID, from, to-1), now,
		map[string]any{"transaction_id": txID, "missing": int64(to - from), "from_seq_no": int64(from)}, fmt.Sprintf("%s/%d-%d", txID, from, to)))
	if err != nil {
		s.log.Error("ocpp: record lost transaction messages", "charger", id, "err", err)
	}
}
