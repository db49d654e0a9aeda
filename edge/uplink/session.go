package uplink

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	wire "github.com/polis-edge/polis/protocols/uplink"
)

// retryDelay is how long the edge waits before resending a batch it could
// not encode (a bug, not a fleet answer).
const retryDelay = 5 * time.Second

// defaultLiveInterval paces live batches: one per second at most (unless
// full), so freshness stays about a second while 7,000 offices send at most
// 7,000 live requests per second between them.
const defaultLiveInterval = time.Second

// Default back-off after a retry answer (InfluxDB down behind the fleet).
const (
	defaultRetryMin = 5 * time.Second
	defaultRetryMax = 5 * time.Minute
)

const tick = 250 * time.Millisecond

// session forwards over one connection until it is lost or ctx is done. It is
// the only goroutine touching the lanes, so they need no lock.
func (u *Uplink) session(ctx context.Context, c paho.Client) error {
	l := newLanes(u.store, time.Now())
	// Connected only now that the lanes' boundary is set: a sample appended
	// after Stats says connected is live, never backlog (it was backlog
	// when it landed between the connection and newLanes, and waited
	// behind the whole backlog's rate limit).
	u.setConnected(true)
	u.log.Info("uplink connected", "url", u.opt.URL)
	u.publishStatus(c, true)
	// A backlog batch may take a whole burst; a smaller burst would never fit it.
	burst := u.opt.BatchSamples
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	lastStatus := time.Now()
	for {
		if err := u.fill(c, l); err != nil {
			return err
		}
		u.mu.Lock()
		u.stats.InFlight = len(l.inflight)
		u.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-u.lost:
			return fmt.Errorf("connection lost: %w", err)
		case <-u.store.Notify():
		case a := <-u.acks:
			u.handleAck(ctx, l, a)
		case now := <-ticker.C:
			if n := l.expire(now, u.opt.AckTimeout); n > 0 {
				u.log.Warn("batches not acked in time, will resend", "batches", n, "timeout", u.opt.AckTimeout)
			}
			// Publish at the interval, and at once when a device changes
			// state, so the fleet's dashboard shows "inv1 unreachable" in
			// seconds, not at the next refresh.
			st := u.status()
			if devicesKey(st.Devices) != u.publishedKey() || now.Sub(lastStatus) >= u.opt.StatusInterval {
				lastStatus = now
				go u.publish(c, st, true)
			}
		}
		l.refill(time.Now(), u.opt.BacklogRate, burst)
	}
}

// fill sends batches until the window is full or nothing is ready: due
// retries first, then live and backlog in turn.
//
// While the fleet asked to back off (l.hold) nothing is sent: samples wait in
// the buffer and go out merged once the hold ends, first as a single probe
// batch, then at the full window once the probe is acked ok.
func (u *Uplink) fill(c paho.Client, l *lanes) error {
	if time.Now().Before(l.hold) {
		return nil
	}
	window := u.opt.Window
	if l.probing {
		window = 1
	}
	for len(l.inflight) < window {
		now := time.Now()
		if r, ok := l.dueRetry(now); ok {
			b, next, err := readBatch(u.store, l.buf, r.seq, r.last, u.opt.BatchSamples, u.opt.BatchBytes)
			if err != nil {
				return err
			}
			if b.count > 0 && next <= r.last { // merged beyond one batch: the rest waits its turn
				l.retries = append(l.retries, retry{seq: next, last: r.last, at: now})
			}
			if b.count > 0 { // else dropped meanwhile (buffer full): nothing to resend
				u.resent.Add(1)
				u.send(c, l, b, now)
			}
			continue
		}
		progressed := false
		// Live samples go out at most once per LiveInterval unless a full
		// batch is waiting: an office sends a bounded number of requests per
		// second however its devices and commits are paced.
		head := u.store.Head()
		liveDue := l.liveNext < head && (head-l.liveNext >= uint64(u.opt.BatchSamples) || now.Sub(l.lastLive) >= u.liveInterval())
		if liveDue {
			l.lastLive = now
			b, next, err := readBatch(u.store, l.buf, l.liveNext, head-1, u.opt.BatchSamples, u.opt.BatchBytes)
			if err != nil {
				return err
			}
			l.liveNext = next
			if b.count > 0 {
				u.send(c, l, b, now)
				progressed = true
			}
		}
		unlimited := u.opt.BacklogRate == 0
		if !l.backlogDone() && (unlimited || l.tokens >= 1) && len(l.inflight) < u.opt.Window {
			b, next, err := readBatch(u.store, l.buf, l.backlogNext, l.liveFrom-1, u.opt.BatchSamples, u.opt.BatchBytes)
			if err != nil {
				return err
			}
			l.backlogNext = next
			if b.count == 0 {
				l.backlogNext = l.liveFrom
			} else {
				if !unlimited {
					l.tokens -= float64(b.count)
				}
				u.send(c, l, b, now)
				progressed = true
			}
		}
		if !progressed {
			return nil
		}
	}
	return nil
}

func (u *Uplink) send(c paho.Client, l *lanes, b batch, now time.Time) {
	payload, err := wire.EncodeBatch(wire.Batch{Office: u.opt.Office, Seq: b.seq, Last: b.last, Count: b.count, Lines: b.lines})
	l.buf = b.lines[:0] // encoded: the lines' memory serves the next batch
	if err != nil {
		// Compressing into memory cannot fail short of a bug; resend later.
		u.log.Error("encode batch", "err", err)
		l.retries = append(l.retries, retry{seq: b.seq, last: b.last, at: now.Add(retryDelay)})
		return
	}
	// Not waiting for PUBACK here keeps the window full; the fleet's ack (or
	// its absence, via the ack timeout) is what decides the batch's fate.
	c.Publish(wire.Topic(u.opt.Office, wire.KindTelemetry), wire.DataQoS(u.opt.QoS0), false, payload)
	l.inflight[b.seq] = pending{last: b.last, count: b.count, sentAt: now}
	u.sent.Add(1)
}

func (u *Uplink) handleAck(ctx context.Context, l *lanes, a wire.Ack) {
	p, known := l.inflight[a.Seq]
	if known && p.last != a.Last {
		known = false
	}
	switch a.Status {
	case wire.AckRetry:
		u.retries.Add(1)
		if known {
			now := time.Now()
			delete(l.inflight, a.Seq)
			l.retries = append(l.retries, retry{seq: a.Seq, last: a.Last, at: now})
			// Back off exponentially, with jitter, capped; batches that were
			// already in flight when the hold began do not raise it again,
			// so one outage does not escalate by the window size.
			if !p.sentAt.Before(l.heldAt) {
				l.attempts++
				l.hold = now.Add(backoff(l.attempts, u.retryMin(), u.retryMax()))
				l.heldAt, l.probing = now, true
			}
		}
		return
	case wire.AckOK, wire.AckRejected:
		if known && l.probing {
			l.probing, l.attempts = false, 0
		}
	}
	// An ok for a batch we no longer track (acked late, after a reconnect)
	// still means InfluxDB has it: deleting is right. A range beyond what
	// was ever assigned is nonsense and ignored.
	if a.Last < a.Seq || a.Last >= u.store.Head() {
		u.log.Warn("ignoring ack for a range never sent", "seq", a.Seq, "last", a.Last)
		return
	}
	u.deleteAsync(ctx, a.Seq, a.Last)
	delete(l.inflight, a.Seq)
	u.acked.Add(1)
	switch a.Status {
	case wire.AckOK:
		u.samplesAcked.Add(uint64(a.Accepted))
		if a.Rejected > 0 {
			u.rejected.Add(uint64(a.Rejected))
			u.store.CountDrop("fleet_rejected", uint64(a.Rejected))
			u.log.Warn("fleet rejected samples", "seq", a.Seq, "rejected", a.Rejected, "reasons", a.Reasons, "error", a.Error)
		}
	case wire.AckRejected:
		n := uint64(p.count)
		if !known {
			n = a.Last - a.Seq + 1 // upper bound: we no longer know the count
		}
		u.rejected.Add(n)
		u.store.CountDrop("fleet_rejected", n)
		u.log.Error("fleet rejected a whole batch", "seq", a.Seq, "last", a.Last, "error", a.Error)
	}
}

func (u *Uplink) liveInterval() time.Duration {
	if u.opt.LiveInterval > 0 {
		return u.opt.LiveInterval
	}
	return defaultLiveInterval
}

func (u *Uplink) retryMin() time.Duration {
	if u.opt.RetryMin > 0 {
		return u.opt.RetryMin
	}
	return defaultRetryMin
}

func (u *Uplink) retryMax() time.Duration {
	if u.opt.RetryMax > 0 {
		return max(u.opt.RetryMax, u.retryMin())
	}
	return max(defaultRetryMax, u.retryMin())
}

// deleteAsync removes an acked range without holding up the sender: each
// Delete is a durable commit, and waiting for one per ack capped the drain
// at the disk's fsync rate. Deletes in flight together share one group
// commit. A failed delete (a disk error, a full disk) is retried with
// back-off until it succeeds or the uplink stops: samples InfluxDB already
// has must not sit in the buffer forever. Losing one in a crash or at
// shutdown only means the range is sent again, which the fleet's idempotent
// writes absorb.
func (u *Uplink) deleteAsync(ctx context.Context, first, last uint64) {
	u.deletes.Add(1)
	go func() {
		defer u.deletes.Done()
		for attempt := 1; ; attempt++ {
			_, err := u.store.Delete(first, last)
			if err == nil {
				if attempt > 1 {
					u.log.Info("delete of acked range succeeded after retries", "seq", first, "last", last, "attempts", attempt)
				}
				return
			}
			u.deleteErrors.Add(1)
			delay := backoff(attempt, deleteRetryMin, deleteRetryMax)
			u.log.Error("delete acked range failed; retrying", "seq", first, "last", last, "err", err, "retry_in", delay.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
}

// Back-off between attempts to delete an acked range.
const (
	deleteRetryMin = 100 * time.Millisecond
	deleteRetryMax = 30 * time.Second
)

// devicesKey is a comparable form of a device-state map.
func devicesKey(devices map[string]string) string {
	ids := make([]string, 0, len(devices))
	for id := range devices {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id + "=" + devices[id] + ";")
	}
	return b.String()
}
