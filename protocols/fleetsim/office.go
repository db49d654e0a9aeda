package fleetsim

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/pahotoken"
	"github.com/polis-edge/polis/protocols/uplink"
)

// office is one simulated polis-edge uplink. Its run goroutine owns all of its
// state (the one-owner rule); paho's callbacks only hand acks and connection
// losses over channels.
type office struct {
	sim    *Sim
	id     string
	index  int // the office's place in the fleet: where its broker list starts
	rnd    *rand.Rand
	paused atomic.Bool
	resume atomic.Bool // set by Resume: skip what was due while paused
	held   atomic.Bool // set by Hold: measure, send nothing
	wake   chan struct{}

	acks chan uplink.Ack
	lost chan error

	// Owned by run.
	lines    *lineWriter
	next     uint64   // sequence number of the next measured line
	pending  []byte   // measured lines not yet in a batch
	pendingN int      // how many lines pending holds
	queued   []*batch // cut while away and paused (batchBacklog), not yet sent
	inflight []*batch // sent, awaiting an ack, oldest first
	counts   []int64  // samples per series, for the values
	measured time.Time
	backoff  time.Duration // after a `retry`, doubles up to maxBackoff
	holdTill time.Time     // no sends before this (retry back-off)
}

type batch struct {
	seq, last uint64
	count     int
	payload   []byte
	first     time.Time // first send: ack latency counts from here
	sent      time.Time // last send; zero = send now
}

const maxBackoff = time.Minute

func newOffice(s *Sim, id string, i int) *office {
	return &office{sim: s, id: id, index: i, rnd: rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15)), lines: s.cfg.Mix.writer(id, nil),
		acks: make(chan uplink.Ack, 64), lost: make(chan error, 1), wake: make(chan struct{}, 1), next: 1, counts: make([]int64, len(s.cfg.Mix))}
}

func (o *office) run(ctx context.Context) {
	cfg := o.sim.cfg
	o.measured = time.Now()
	tick := time.NewTicker(cfg.Flush)
	defer tick.Stop()
	var c paho.Client
	retryConnect := time.Time{}
	defer func() {
		if c != nil {
			c.Disconnect(100)
			o.sim.stats.connected.Add(-1)
		}
	}()
	for {
		now := time.Now()
		if c == nil && !now.Before(retryConnect) {
			var err error
			if c, err = o.connect(ctx); err != nil {
				cfg.Log.Debug("connect failed", "office", o.id, "err", err)
				o.sim.stats.failed.Add(1)
				msg := o.id + ": " + err.Error()
				o.sim.stats.lastFail.Store(&msg)
				retryConnect = now.Add(time.Second + time.Duration(o.rnd.Int64N(int64(2*time.Second))))
				c = nil
			} else {
				for _, b := range o.inflight {
					b.sent = time.Time{} // resend everything unacked on the new connection
				}
			}
		}
		if c != nil && !o.held.Load() {
			o.send(c, now)
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake: // released: send at once
		case a := <-o.acks:
			o.onAck(a, time.Now())
		case err := <-o.lost:
			cfg.Log.Debug("connection lost", "office", o.id, "err", err)
			o.sim.stats.lost.Add(1)
			o.sim.stats.connected.Add(-1)
			c = nil
		case now := <-tick.C:
			if o.resume.Swap(false) {
				o.measured = now
			}
			if !o.paused.Load() {
				o.measure(now)
			} else if c == nil || o.held.Load() {
				o.batchBacklog()
			}
		}
	}
}

func (o *office) connect(ctx context.Context) (paho.Client, error) {
	cfg := o.sim.cfg
	will, _ := json.Marshal(uplink.Status{Office: o.id, Online: false})
	opts := paho.NewClientOptions()
	// paho tries brokers in order: each office starts at its own place in
	// the list, so a cluster's nodes share the offices (as DNS round robin
	// or a load balancer would) instead of all landing on the first.
	brokers := strings.Split(cfg.Broker, ",")
	for k := range brokers {
		opts.AddBroker(brokers[(o.index+k)%len(brokers)])
	}
	opts.SetClientID("edge-"+o.id).
		SetUsername(o.id).SetPassword(cfg.Password(o.id)).SetCleanSession(true).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(60*time.Second).
		SetConnectTimeout(30*time.Second).SetWriteTimeout(30*time.Second).
		SetBinaryWill(uplink.Topic(o.id, uplink.KindStatus), will, 1, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case o.lost <- err:
			default:
			}
		})
	select { // a stale loss from the previous connection
	case <-o.lost:
	default:
	}
	c := paho.NewClient(opts)
	if err := wait(ctx, c.Connect()); err != nil {
		return nil, err
	}
	onAck := func(_ paho.Client, m paho.Message) {
		if a, err := uplink.DecodeAck(m.Payload()); err == nil {
			select {
			case o.acks <- a:
			case <-ctx.Done():
			}
		}
	}
	if err := wait(ctx, c.Subscribe(uplink.Topic(o.id, uplink.KindAck), uplink.DataQoS(o.sim.cfg.QoS0), onAck)); err != nil {
		c.Disconnect(0)
		return nil, err
	}
	st, _ := json.Marshal(uplink.Status{Office: o.id, Online: true, Version: "fleetsim", Started: o.measured, Time: time.Now()})
	c.Publish(uplink.Topic(o.id, uplink.KindStatus), 1, true, st) // not awaited: the status is best effort
	o.sim.stats.connects.Add(1)
	o.sim.stats.connected.Add(1)
	return c, nil
}

// wait waits for a token. A refused subscription is an error too: a
// connection whose ack subscription was refused (a broker whose session store
// is failing over) would send forever and never hear an ack; reconnecting is
// the cure.
var wait = pahotoken.Wait

// measure appends every line the mix owes since the last call.
func (o *office) measure(now time.Time) {
	var n int
	var err error
	o.pending, n, err = o.lines.appendDue(o.pending, o.rnd, o.counts, o.measured, now)
	if err != nil {
		o.sim.cfg.Log.Error("encode", "office", o.id, "err", err)
	}
	o.measured = now
	o.pendingN += n
	o.sim.stats.measured.Add(int64(n))
	o.sim.stats.unbatched.Add(int64(n))
}

// batchBacklog cuts everything pending into batches while the fleet is away
// (or the office held) and the office paused, so a benchmark's drain times
// the fleet and not the simulator's encoding: the 7,000 offices' zstd runs
// on 7,000 edge boxes in production, not beside the fleet, and the direct
// side's lines are prepared before its timer too.
func (o *office) batchBacklog() {
	for o.pendingN > 0 {
		o.queued = append(o.queued, o.cut(o.sim.cfg.MaxBatch))
	}
}

// send cuts pending lines into batches while the window has room, and
// (re)sends batches that are due: never sent on this connection, or unacked
// for longer than the ack timeout.
func (o *office) send(c paho.Client, now time.Time) {
	cfg := o.sim.cfg
	if now.Before(o.holdTill) {
		return
	}
	for len(o.inflight) < cfg.Window && len(o.queued) > 0 {
		o.inflight, o.queued = append(o.inflight, o.queued[0]), o.queued[1:]
	}
	for len(o.inflight) < cfg.Window && o.pendingN > 0 {
		o.inflight = append(o.inflight, o.cut(cfg.MaxBatch))
	}
	for _, b := range o.inflight {
		if !b.sent.IsZero() && now.Sub(b.sent) < cfg.AckTimeout {
			continue
		}
		if !b.sent.IsZero() {
			o.sim.stats.resent.Add(1)
		}
		if b.first.IsZero() {
			b.first = now
		}
		b.sent = now
		c.Publish(uplink.Topic(o.id, uplink.KindTelemetry), uplink.DataQoS(o.sim.cfg.QoS0), false, b.payload) // the ack is the confirmation
		o.sim.stats.sent.Add(1)
	}
}

// cut takes up to max lines off the front of pending as one batch.
func (o *office) cut(max int) *batch {
	end, n := 0, 0
	for n < max && end < len(o.pending) {
		i := end
		for i < len(o.pending) && o.pending[i] != '\n' {
			i++
		}
		end, n = i+1, n+1
	}
	lines := o.pending[:end]
	b := &batch{seq: o.next, last: o.next + uint64(n) - 1, count: n}
	b.payload, _ = uplink.EncodeBatch(uplink.Batch{Office: o.id, Seq: b.seq, Last: b.last, Count: n, Lines: lines})
	o.next += uint64(n)
	o.pending = append(o.pending[:0], o.pending[end:]...)
	o.pendingN -= n
	o.sim.stats.unbatched.Add(-int64(n))
	return b
}

var errUnknownAck = errors.New("ack for no batch in flight")

func (o *office) onAck(a uplink.Ack, now time.Time) {
	i := 0
	for i < len(o.inflight) && (o.inflight[i].seq != a.Seq || o.inflight[i].last != a.Last) {
		i++
	}
	if i == len(o.inflight) {
		o.sim.cfg.Log.Debug("ack", "office", o.id, "seq", a.Seq, "err", errUnknownAck) // a late duplicate
		return
	}
	b := o.inflight[i]
	switch a.Status {
	case uplink.AckOK:
		o.sim.stats.acked.Add(int64(a.Accepted))
		o.sim.stats.rejected.Add(int64(a.Rejected))
		o.sim.stats.latency(now.Sub(b.first))
		o.backoff = 0
	case uplink.AckRejected:
		o.sim.stats.rejected.Add(int64(b.count))
	case uplink.AckRetry:
		// Back off like the edge: exponential with jitter, so thousands of
		// offices waiting out an InfluxDB outage do not hammer the fleet.
		o.sim.stats.retries.Add(1)
		o.backoff = min(max(2*o.backoff, time.Second), maxBackoff)
		o.holdTill = now.Add(o.backoff/2 + time.Duration(o.rnd.Int64N(int64(o.backoff/2)+1)))
		b.sent = time.Time{}
		return
	}
	o.inflight = append(o.inflight[:i], o.inflight[i+1:]...)
}
