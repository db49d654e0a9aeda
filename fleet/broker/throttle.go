package broker

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"

	"github.com/polis-edge/polis/fleet/config"
)

// Reasons an office's traffic was throttled (polis_fleet_throttled_total).
const (
	ThrottleRate      = "rate"       // publishes held back or ignored beyond messages_per_second / bytes_per_second
	ThrottleTooLarge  = "too_large"  // one message larger than the byte burst
	ThrottleReconnect = "reconnects" // connects beyond connects_per_minute
)

// throttle keeps one set of token buckets per office. A publish over the
// rate waits in the office's own connection goroutine (mochi reads each
// client on its own), so only that office slows down; one that would wait
// longer than max_wait is acknowledged to MQTT and ignored, and its uplink
// resends it after its ack timeout: nothing is lost, the flood just does not
// reach the ingest workers.
type throttle struct {
	cfg     config.OfficeLimits
	log     *slog.Logger
	offices sync.Map // office → *officeBuckets; bounded by the registry (only authenticated offices)
	counts  [3]atomic.Uint64
}

type officeBuckets struct {
	messages, bytes, connects *rate.Limiter
	logged                    atomic.Int64 // unix seconds of the last warning, one a minute per office
}

var throttleReasons = [3]string{ThrottleRate, ThrottleTooLarge, ThrottleReconnect}

func newThrottle(cfg config.OfficeLimits, log *slog.Logger) *throttle {
	return &throttle{cfg: cfg, log: log}
}

func (t *throttle) buckets(office string) *officeBuckets {
	if b, ok := t.offices.Load(office); ok {
		return b.(*officeBuckets)
	}
	c := t.cfg
	b, _ := t.offices.LoadOrStore(office, &officeBuckets{
		messages: rate.NewLimiter(rate.Limit(c.MessagesPerSecond), max(1, int(2*c.MessagesPerSecond))),
		bytes:    rate.NewLimiter(rate.Limit(c.BytesPerSecond), int(4*c.BytesPerSecond)),
		connects: rate.NewLimiter(rate.Every(time.Minute/time.Duration(c.ConnectsPerMinute)), c.ConnectsPerMinute),
	})
	return b.(*officeBuckets)
}

// allowConnect spends one connect token of the office.
func (t *throttle) allowConnect(office string) bool {
	if t.buckets(office).connects.Allow() {
		return true
	}
	t.count(office, 2)
	return false
}

// publish waits for the office's tokens, or reports that the message is to
// be ignored.
func (t *throttle) publish(office string, size int) (ignore bool) {
	b := t.buckets(office)
	now := time.Now()
	msg := b.messages.ReserveN(now, 1)
	byt := b.bytes.ReserveN(now, size)
	if !byt.OK() {
		msg.CancelAt(now)
		t.count(office, 1)
		return true
	}
	wait := max(msg.DelayFrom(now), byt.DelayFrom(now))
	if wait > t.cfg.MaxWait {
		msg.CancelAt(now)
		byt.CancelAt(now)
		t.count(office, 0)
		return true
	}
	if wait > 0 {
		t.count(office, 0) // held back: counted as throttled too
		time.Sleep(wait)
	}
	return false
}

func (t *throttle) count(office string, reason int) {
	t.counts[reason].Add(1)
	b := t.buckets(office)
	now := time.Now().Unix()
	if last := b.logged.Load(); now-last >= 60 && b.logged.CompareAndSwap(last, now) {
		t.log.Warn("office throttled: it sends more than its office_limits", "office", office, "reason", throttleReasons[reason])
	}
}

// Throttled returns how many messages or connects were throttled, by reason.
func (t *throttle) Throttled() map[string]uint64 {
	out := make(map[string]uint64, len(throttleReasons))
	for i, r := range throttleReasons {
		out[r] = t.counts[i].Load()
	}
	return out
}

// OnPublish applies the office's limits to what it publishes; the fleet's
// own (inline) publishes are not limited.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.throttle == nil {
		return pk, nil
	}
	if h.throttle.publish(string(cl.Properties.Username), len(pk.Payload)) {
		return pk, packets.CodeSuccessIgnore
	}
	return pk, nil
}
