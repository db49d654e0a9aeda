package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/polis-edge/polis/protocols/uplink"
)

type writeBuf struct {
	body []byte
	ends []int
}

// writeBufs keeps request buffers between writes; a channel rather than a
// sync.Pool, whose contents every garbage collection drops (and at 7,000
// offices the fleet collects several times a second).
var writeBufs = make(chan *writeBuf, 16)

// Message is one telemetry message as it came off the broker.
type Message struct {
	Office  string
	Payload []byte
}

// HandleMany processes several offices' messages with one InfluxDB write and
// returns one Result (one ack) per message, in order.
//
// At 7,000 offices most batches are small (an office's live lane sends what a
// second or two measured), and InfluxDB pays per request: coalescing many
// offices' batches into one write is what lets one fleet keep up. Every ack
// still waits for the write that holds its lines. When InfluxDB refuses part
// of a coalesced write, each message's lines are written again on their own
// (writes are idempotent), so every ack counts exactly its own refusals.
func (in *Ingester) HandleMany(ctx context.Context, msgs []Message) []Result {
	results := make([]Result, len(msgs))
	// The request body is reused from write to write: growing a fresh one
	// for every coalesced write was a tenth of the fleet's CPU at 7,000
	// offices. Nothing keeps a reference past the write (the client copies).
	var wb *writeBuf
	select {
	case wb = <-writeBufs:
	default:
		wb = new(writeBuf)
	}
	body, ends := wb.body[:0], wb.ends[:0]
	defer func() {
		wb.body, wb.ends = body[:0], ends[:0]
		select {
		case writeBufs <- wb:
		default: // more writers than kept buffers: let this one go
		}
	}()
	spans := make([][2]int, len(msgs)) // each message's lines: ends[lo:hi]
	for i, m := range msgs {
		lo := len(ends)
		results[i], body, ends = in.prepareMessage(m, body, ends)
		spans[i] = [2]int{lo, len(ends)}
	}
	if len(ends) == 0 {
		return results
	}
	start := time.Now()
	refused, _, err := in.writeLines(ctx, body, ends, 0, len(ends))
	took := time.Since(start)
	for i := range results {
		r := &results[i]
		lo, hi := spans[i][0], spans[i][1]
		if hi == lo {
			continue // nothing to write: its result is final
		}
		r.Write = took
		if err != nil {
			*r = Result{Office: r.Office, Batch: true, Write: took, Err: err,
				Ack: uplink.Ack{Seq: r.Ack.Seq, Last: r.Ack.Last, Status: uplink.AckRetry, Error: err.Error()}}
			continue
		}
		if refused > 0 { // find whose lines were refused: write each message's lines alone
			mine, derr, werr := in.writeLines(ctx, body, ends, lo, hi)
			if werr != nil {
				*r = Result{Office: r.Office, Batch: true, Write: took, Err: werr,
					Ack: uplink.Ack{Seq: r.Ack.Seq, Last: r.Ack.Last, Status: uplink.AckRetry, Error: werr.Error()}}
				continue
			}
			if mine > 0 {
				// Resending would fail the same way forever: ack ok, count
				// exactly the lines InfluxDB refused.
				r.Ack.Accepted -= mine
				r.Ack.Rejected += mine
				r.Ack.Reasons[ReasonInfluxRejected] += mine
				r.Ack.Error = derr.Error()
				r.Err = derr
			}
		}
		r.Ack.Status = uplink.AckOK
		r.Written = hi - lo
		*r = r.finish()
	}
	return results
}

// prepareMessage decodes and checks one message and appends its lines to
// body/ends. A message with nothing to write comes back with its final
// result (rejected, or ok with every line refused).
func (in *Ingester) prepareMessage(m Message, body []byte, ends []int) (Result, []byte, []int) {
	r := Result{Office: m.Office, Ack: uplink.Ack{Reasons: map[string]int{}}}
	b, err := uplink.DecodeBatch(m.Payload)
	if err != nil {
		return r.reject(ReasonMalformed, err), body, ends
	}
	r.Batch = true
	r.Ack.Seq, r.Ack.Last = b.Seq, b.Last
	if b.Office != m.Office {
		return r.reject(ReasonWrongOffice, fmt.Errorf("batch header office %q on topic of office %q", b.Office, m.Office)), body, ends
	}
	had := len(ends)
	body, ends, r.Events, r.ClockAhead = in.prepare(m.Office, b.Lines, &r.Ack, body, ends)
	if len(ends) == had {
		r.Ack.Status = uplink.AckOK
		return r.finish(), body, ends
	}
	return r, body, ends
}
