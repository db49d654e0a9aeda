package uplink

import (
	"sync/atomic"
	"testing"
	"time"

	wire "github.com/polis-edge/polis/protocols/uplink"
)

// During an InfluxDB outage the fleet answers retry. An office producing a
// sample every few milliseconds must not answer with a batch per sample per
// retry interval (7,000 offices did ~465 requests/s at the centre): it backs
// off exponentially and sends what waited as merged batches.
func TestRetryBacksOffAndMergesDuringOutage(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	var down atomic.Bool
	down.Store(true)
	var during atomic.Int64
	f.decide = func(wire.Batch, int) string {
		if down.Load() {
			during.Add(1)
			return wire.AckRetry
		}
		return wire.AckOK
	}
	buf := openBuffer(t)
	opt := options(f.addr)
	opt.RetryMin, opt.RetryMax = 100*time.Millisecond, 800*time.Millisecond
	u := New(opt, buf)
	run(t, u)
	eventually(t, "the uplink to connect", func() bool { return u.Stats().Connected })

	// 300 live samples, one append each, spread over the outage: without
	// back-off and merging each would be a batch, resent on its own.
	const n = 300
	for i := range n {
		appendN(t, buf, i, 1)
		time.Sleep(10 * time.Millisecond) // a producer's pace (~3 s of outage), not synchronisation
	}
	requests := during.Load()
	down.Store(false)
	eventually(t, "all samples stored after the outage", func() bool {
		return f.distinct() == n && buf.Stats().Count == 0
	})
	// The bound: the window's first batches, then one probe per back-off
	// step. Merging is what keeps the resends few; 40 is far below one
	// request per append (300) and per retried batch.
	if requests > 40 {
		t.Fatalf("%d requests during the outage for %d samples: no back-off or merging", requests, n)
	}
	if requests < 2 {
		t.Fatalf("only %d requests during the outage: the test did not exercise retries", requests)
	}
	t.Logf("%d requests during the outage, %d batches in all", requests, u.Stats().BatchesSent)
}
