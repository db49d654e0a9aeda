package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/polis-edge/polis/fleet/ingest"
	"github.com/polis-edge/polis/protocols/uplink"
)

// startBus subscribes before it serves: the listeners are bound since New,
// and a batch published before the subscription existed would be PUBACKed by
// the broker and then go nowhere.
func (f *Fleet) startBus() error {
	// Telemetry is shared between fleet instances; every instance wants every
	// status, to show the whole fleet's health.
	if err := f.bus.SubscribeShared(uplink.Wildcard(uplink.KindTelemetry), f.onTelemetry); err != nil {
		return fmt.Errorf("subscribe telemetry: %w", err)
	}
	if err := f.bus.Subscribe(uplink.Wildcard(uplink.KindStatus), f.onStatus); err != nil {
		return fmt.Errorf("subscribe status: %w", err)
	}
	if f.embedded != nil {
		return f.embedded.Serve()
	}
	f.external.Connect()
	return nil
}

// onTelemetry runs on the broker's delivery goroutine: it only queues. A full
// queue blocks the sending connection, which is the back-pressure we want.
func (f *Fleet) onTelemetry(topic string, payload []byte, done func()) {
	office, kind, ok := uplink.SplitTopic(topic)
	if !ok || kind != uplink.KindTelemetry || uplink.ValidOffice(office) != nil {
		f.metrics.dropped.Add(1)
		done() // never useful: do not let it be redelivered
		return
	}
	select {
	case f.queue <- job{office: office, payload: payload, done: done}:
	case <-f.stopping:
		// Not acked: the office resends it to whichever fleet is up.
	}
}

func (f *Fleet) onStatus(topic string, payload []byte) {
	office, kind, ok := uplink.SplitTopic(topic)
	if !ok || kind != uplink.KindStatus || uplink.ValidOffice(office) != nil || len(payload) == 0 {
		return
	}
	var st uplink.Status
	if err := json.Unmarshal(payload, &st); err != nil {
		f.log.Warn("bad status message", "office", office, "err", err)
		return
	}
	if st.Office != "" && st.Office != office {
		f.log.Warn("status names another office", "topic_office", office, "status_office", st.Office)
		return
	}
	f.reg.RecordStatus(office, st, time.Now())
}

// A worker takes what is queued, up to these bounds, into one InfluxDB write
// (ingest.HandleMany): many offices' small batches cost one request. 7,000
// offices send 7,000 batches a second; one request each would not fit beside
// InfluxDB on two cores, hundreds per request do (docs/benchmarks.md).
const (
	coalesceMessages = 1024
	// Compressed bytes. A live batch of an office is ~1.5 KiB (too small to
	// compress much): at 128 KiB a write carried 87 offices and 7,000
	// offices saturated the four workers; 512 KiB lets it carry ~340.
	coalesceBytes = 512 << 10
)

func (f *Fleet) worker(ctx context.Context) {
	var jobs []job
	for {
		select {
		case j := <-f.queue:
			jobs = f.coalesce(append(jobs[:0], j))
			f.process(ctx, jobs)
		case <-f.stopping:
			for { // finish what is queued, then stop
				select {
				case j := <-f.queue:
					jobs = f.coalesce(append(jobs[:0], j))
					f.process(ctx, jobs)
				default:
					return
				}
			}
		}
	}
}

// coalesce adds whatever else is already queued, without waiting for more:
// under light load a batch goes out alone and at once; under heavy load the
// queue fills and each write carries many offices.
func (f *Fleet) coalesce(jobs []job) []job {
	size := len(jobs[0].payload)
	for len(jobs) < coalesceMessages && size < coalesceBytes {
		select {
		case j := <-f.queue:
			jobs = append(jobs, j)
			size += len(j.payload)
		default:
			return jobs
		}
	}
	return jobs
}

func (f *Fleet) process(ctx context.Context, jobs []job) {
	msgs := make([]ingest.Message, len(jobs))
	for i, j := range jobs {
		msgs[i] = ingest.Message{Office: j.office, Payload: j.payload}
	}
	for i, res := range f.ingest.HandleMany(ctx, msgs) {
		f.finish(jobs[i], res)
	}
}

// finish records one message's result and answers its office.
func (f *Fleet) finish(j job, res ingest.Result) {
	defer j.done()
	f.metrics.record(res)
	f.reg.RecordBatch(res, time.Now())
	f.influxUp.observe(f, res)
	if res.ClockAhead > 0 {
		f.log.Warn("office clock is ahead of the fleet's: its future samples are refused", "office", j.office,
			"ahead", res.ClockAhead.Round(time.Second), "refused", res.Ack.Reasons[ingest.ReasonClockAhead])
	}
	if res.Ack.Status == uplink.AckRejected || res.Ack.Rejected > 0 {
		f.log.Warn("batch rejected in part or whole", "office", j.office, "seq", res.Ack.Seq, "last", res.Ack.Last,
			"status", res.Ack.Status, "rejected", res.Ack.Rejected, "reasons", res.Ack.Reasons, "err", res.Ack.Error)
	}
	payload, err := json.Marshal(res.Ack)
	if err != nil {
		f.log.Error("encode ack", "err", err)
		return
	}
	if err := f.bus.Publish(uplink.Topic(j.office, uplink.KindAck), payload, 1, false); err != nil {
		f.log.Warn("publish ack", "office", j.office, "seq", res.Ack.Seq, "err", err)
	}
}

// influxState logs InfluxDB going away and coming back once, not per batch:
// with 7,000 offices a per-batch error log would bury everything else.
type influxState struct{ down atomic.Bool }

func (s *influxState) observe(f *Fleet, r ingest.Result) {
	switch {
	case r.Ack.Status == uplink.AckRetry:
		if !s.down.Swap(true) {
			f.log.Error("influxdb unavailable: answering retry until it is back", "err", r.Err)
		}
	case r.Written > 0:
		if s.down.Swap(false) {
			f.log.Info("influxdb writes succeed again")
		}
	}
}
