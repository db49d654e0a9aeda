package uplink

import (
	"errors"
	"sort"
	"time"
)

// Store is what the uplink needs from the durable buffer.
type Store interface {
	Read(from uint64, maxCount, maxBytes int, fn func(seq uint64, line []byte) error) (uint64, error)
	Delete(first, last uint64) (int, error)
	Head() uint64
	Oldest() (uint64, bool)
	Notify() <-chan struct{}
	CountDrop(reason string, n uint64)
}

// pending is a batch that was sent and awaits its ack.
type pending struct {
	last   uint64
	count  int
	sentAt time.Time
}

// retry is a range to send again, not before at.
type retry struct {
	seq, last uint64
	at        time.Time
}

// lanes decides what to send next. It is owned by the session goroutine.
//
// Samples appended after the connection came up form the live lane and go out
// at once, so the dashboard stays current. Everything older is backlog and
// drains oldest first at a bounded rate, so a returning office does not flood
// the fleet. Both lanes share the in-flight window; they alternate so neither
// starves the other.
type lanes struct {
	liveFrom    uint64 // Head() when the session started: the lane boundary
	liveNext    uint64
	backlogNext uint64
	inflight    map[uint64]pending
	retries     []retry
	tokens      float64 // backlog token bucket, in samples
	refilled    time.Time
	buf         []byte // reused for every batch's lines
	lastLive    time.Time

	// Fleet back-off (see handleAck): after a retry answer nothing is sent
	// until hold; then one probe batch at a time until an ok comes back.
	hold     time.Time
	heldAt   time.Time // when hold was last set
	probing  bool
	attempts int // retry answers to probes in a row
}

func newLanes(st Store, now time.Time) *lanes {
	head := st.Head()
	oldest, ok := st.Oldest()
	if !ok || oldest > head {
		oldest = head
	}
	return &lanes{liveFrom: head, liveNext: head, backlogNext: oldest, inflight: map[uint64]pending{}, refilled: now}
}

func (l *lanes) backlogDone() bool { return l.backlogNext >= l.liveFrom }

// refill adds backlog tokens for the time elapsed (rate 0, unlimited, never
// looks at them).
func (l *lanes) refill(now time.Time, rate, burst int) {
	l.tokens += now.Sub(l.refilled).Seconds() * float64(rate)
	if l.tokens > float64(burst) {
		l.tokens = float64(burst)
	}
	l.refilled = now
}

// expire moves batches whose ack did not come in time to the retry list.
func (l *lanes) expire(now time.Time, timeout time.Duration) int {
	n := 0
	for seq, p := range l.inflight {
		if now.Sub(p.sentAt) >= timeout {
			delete(l.inflight, seq)
			l.retries = append(l.retries, retry{seq: seq, last: p.last, at: now})
			n++
		}
	}
	return n
}

// dueRetry pops the first retry whose time has come, merged with the due
// retries that follow it when nothing between them is in flight or still
// unsent: during a fleet outage every small live batch comes back as a
// retry, and resending them one by one is what made retry storms.
func (l *lanes) dueRetry(now time.Time) (retry, bool) {
	sort.Slice(l.retries, func(i, j int) bool { return l.retries[i].seq < l.retries[j].seq })
	for i, r := range l.retries {
		if now.Before(r.at) {
			continue
		}
		j := i + 1
		for ; j < len(l.retries); j++ {
			n := l.retries[j]
			if now.Before(n.at) || !l.gapDone(r.last, n.seq) {
				break
			}
			r.last = max(r.last, n.last)
		}
		l.retries = append(l.retries[:i], l.retries[j:]...)
		return r, true
	}
	return retry{}, false
}

// gapDone reports whether every seq strictly between a and b was sent and
// is not awaiting an ack (acked ones are deleted and read as nothing).
func (l *lanes) gapDone(a, b uint64) bool {
	if b <= a+1 {
		return true
	}
	if !l.backlogDone() && a+1 < l.liveFrom && b-1 >= l.backlogNext {
		return false // unsent backlog in between
	}
	if b-1 >= l.liveNext {
		return false
	}
	for seq, p := range l.inflight {
		if seq < b && p.last > a {
			return false
		}
	}
	return true
}

var errStop = errors.New("stop")

// readBatch collects stored lines with seq in [from, to] up to the size limits.
// next is where to continue: to+1 once the range is exhausted, last+1 when a
// limit cut the batch, from when nothing is stored at or after from yet.
//
// The lines are appended to buf[:0]: the session reuses one buffer for every
// batch (each is encoded before the next is read), so a drain does not
// allocate and copy megabytes per batch.
func readBatch(st Store, buf []byte, from, to uint64, maxCount, maxBytes int) (b batch, next uint64, err error) {
	b.lines = buf[:0]
	_, err = st.Read(from, maxCount, maxBytes, func(seq uint64, line []byte) error {
		if seq > to {
			return errStop
		}
		if b.count == 0 {
			b.seq = seq
		}
		b.last = seq
		b.count++
		b.lines = append(b.lines, line...)
		if len(line) > 0 && line[len(line)-1] != '\n' {
			b.lines = append(b.lines, '\n')
		}
		return nil
	})
	switch {
	case errors.Is(err, errStop):
		return b, to + 1, nil
	case err != nil:
		return batch{}, from, err
	case b.count == 0:
		return b, from, nil
	default:
		return b, b.last + 1, nil
	}
}

// batch is a contiguous run of buffered lines.
type batch struct {
	seq, last uint64
	count     int
	lines     []byte
}
