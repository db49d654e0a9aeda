// Package uplink forwards the office's buffered samples to the fleet over MQTT
// (see docs/uplink.md) and deletes them from the buffer only once the fleet
// acknowledged that InfluxDB has them.
package uplink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/pahotoken"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// Options configure an Uplink.
type Options struct {
	Office         string
	URL            string
	Username       string
	Password       string
	ClientID       string
	TLS            *tls.Config
	BatchSamples   int
	BatchBytes     int
	Window         int
	AckTimeout     time.Duration
	BacklogRate    int // samples/s, 0 = unlimited
	ReconnectMin   time.Duration
	ReconnectMax   time.Duration
	StatusInterval time.Duration
	// RetryMin and RetryMax bound the back-off after the fleet answers
	// retry (default 5 s and 5 min): doubling, with jitter.
	RetryMin time.Duration
	RetryMax time.Duration
	// LiveInterval is the least time between two live batches unless a full
	// batch is waiting (default 1 s): it bounds the requests per office.
	LiveInterval time.Duration
	// QoS0 sends batches and subscribes to acks, commands and config at
	// QoS 0 (uplink.qos); status and replies stay at QoS 1.
	QoS0 bool
	// Status returns the office status to publish (retained); Online is set here.
	Status func() wire.Status
	// Commands, if set, receives each message on the office's cmd topic (on
	// paho's goroutine: hand it over, do not block); reply publishes on
	// cmd/result over the connection the command came in on.
	Commands func(payload []byte, reply func([]byte) error)
	// Config, if set, receives the retained desired config; reply publishes
	// (retained) on config/applied.
	Config func(payload []byte, reply func([]byte) error)
	Logger *slog.Logger
}

// Stats are the uplink's counters, for metrics and the status API.
type Stats struct {
	Connected      bool      `json:"connected"`
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	Connects       uint64    `json:"connects"`
	Errors         uint64    `json:"errors"` // failed connects and lost connections
	LastError      string    `json:"last_error,omitempty"`
	BatchesSent    uint64    `json:"batches_sent"`
	BatchesAcked   uint64    `json:"batches_acked"`
	BatchesResent  uint64    `json:"batches_resent"`
	SamplesAcked   uint64    `json:"samples_acked"`
	FleetRejected  uint64    `json:"fleet_rejected"`
	FleetRetries   uint64    `json:"fleet_retries"`
	AcksDropped    uint64    `json:"acks_dropped"`  // acks that arrived faster than handled: their batches are resent
	DeleteErrors   uint64    `json:"delete_errors"` // failed deletes of acked ranges (each retried until it succeeds)
	InFlight       int       `json:"in_flight"`
	LastAck        time.Time `json:"last_ack,omitzero"`
}

// Uplink owns the MQTT connection to the fleet.
type Uplink struct {
	opt   Options
	store Store
	log   *slog.Logger

	acks chan wire.Ack
	lost chan error

	mu        sync.Mutex
	stats     Stats
	deletes   sync.WaitGroup // acked ranges being deleted
	published string         // device states in the last status published

	sent, acked, resent, samplesAcked, rejected, retries atomic.Uint64
	droppedAcks                                          atomic.Uint64
	deleteErrors                                         atomic.Uint64
}

// New returns an Uplink forwarding from store.
func New(opt Options, store Store) *Uplink {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ClientID == "" {
		opt.ClientID = "polis-edge-" + opt.Office
	}
	return &Uplink{
		opt: opt, store: store, log: opt.Logger.With("component", "uplink"),
		acks: make(chan wire.Ack, 1024), lost: make(chan error, 1),
	}
}

// Stats returns a snapshot of the counters.
func (u *Uplink) Stats() Stats {
	u.mu.Lock()
	s := u.stats
	u.mu.Unlock()
	s.BatchesSent, s.BatchesAcked, s.BatchesResent = u.sent.Load(), u.acked.Load(), u.resent.Load()
	s.SamplesAcked, s.FleetRejected, s.FleetRetries = u.samplesAcked.Load(), u.rejected.Load(), u.retries.Load()
	s.AcksDropped = u.droppedAcks.Load()
	s.DeleteErrors = u.deleteErrors.Load()
	return s
}

// Run connects, forwards and reconnects until ctx is done.
func (u *Uplink) Run(ctx context.Context) error {
	defer u.deletes.Wait() // the buffer closes after Run returns
	for attempt := 0; ctx.Err() == nil; {
		client, err := u.connect(ctx)
		if err != nil {
			u.setError(err)
			attempt++
			delay := backoff(attempt, u.opt.ReconnectMin, u.opt.ReconnectMax)
			u.log.Warn("uplink connect failed", "err", err, "retry_in", delay.Round(time.Millisecond))
			sleep(ctx, delay)
			continue
		}
		attempt = 0
		err = u.session(ctx, client)
		u.setConnected(false)
		if ctx.Err() != nil {
			u.publishStatus(client, false)
			client.Disconnect(500)
			return nil
		}
		u.setError(err)
		client.Disconnect(0)
		// Jitter even the first retry: after a central outage 7,000 offices
		// lose the connection in the same second and must not return in step.
		attempt = 1
		delay := backoff(attempt, u.opt.ReconnectMin, u.opt.ReconnectMax)
		u.log.Warn("uplink lost", "err", err, "retry_in", delay.Round(time.Millisecond))
		sleep(ctx, delay)
	}
	return nil
}

// backoff doubles from min up to max, then picks a point in its upper half:
// "equal jitter" keeps some spacing while spreading a fleet's reconnects.
func backoff(attempt int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (u *Uplink) connect(ctx context.Context) (paho.Client, error) {
	will, _ := json.Marshal(wire.Status{Office: u.opt.Office, Online: false})
	o := paho.NewClientOptions().AddBroker(u.opt.URL).SetClientID(u.opt.ClientID).
		SetUsername(u.opt.Username).SetPassword(u.opt.Password).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30*time.Second).
		SetConnectTimeout(10*time.Second).SetWriteTimeout(30*time.Second).
		SetBinaryWill(wire.Topic(u.opt.Office, wire.KindStatus), will, 1, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case u.lost <- err:
			default:
			}
		})
	if u.opt.TLS != nil {
		o.SetTLSConfig(u.opt.TLS)
	}
	// Drain a stale loss signal from the previous connection.
	select {
	case <-u.lost:
	default:
	}
	c := paho.NewClient(o)
	if err := wait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("connect %s: %w", u.opt.URL, err)
	}
	ackTopic := wire.Topic(u.opt.Office, wire.KindAck)
	if err := wait(ctx, c.Subscribe(ackTopic, wire.DataQoS(u.opt.QoS0), u.onAck)); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("subscribe %s: %w", ackTopic, err)
	}
	for kind, h := range map[string]func([]byte, func([]byte) error){wire.KindCmd: u.opt.Commands, wire.KindConfig: u.opt.Config} {
		if h == nil {
			continue
		}
		if err := wait(ctx, c.Subscribe(wire.Topic(u.opt.Office, kind), wire.DataQoS(u.opt.QoS0), u.remote(h, kind))); err != nil {
			c.Disconnect(0)
			return nil, fmt.Errorf("subscribe %s: %w", kind, err)
		}
	}
	return c, nil
}

// wait waits for a token. A refused subscription is an error too: a
// connection whose ack subscription was refused (a broker whose session store
// is failing over) would send forever and never hear an ack; reconnecting is
// the cure.
var wait = pahotoken.Wait

// onAck runs on paho's goroutine: hand over without blocking it. A dropped ack
// only costs a resend, which the fleet's idempotent writes absorb.
func (u *Uplink) onAck(_ paho.Client, m paho.Message) {
	a, err := wire.DecodeAck(m.Payload())
	if err != nil {
		u.log.Warn("ignoring malformed ack", "err", err)
		return
	}
	select {
	case u.acks <- a:
	default:
		u.droppedAcks.Add(1)
	}
}

// remote hands a fleet message (cmd, config) to h; the reply goes to
// cmd/result (not retained) or config/applied (retained).
func (u *Uplink) remote(h func([]byte, func([]byte) error), kind string) paho.MessageHandler {
	replyKind, retain := wire.KindCmdResult, false
	if kind == wire.KindConfig {
		replyKind, retain = wire.KindConfigApplied, true
	}
	return func(c paho.Client, m paho.Message) {
		h(m.Payload(), func(b []byte) error {
			t := c.Publish(wire.Topic(u.opt.Office, replyKind), 1, retain, b)
			if !t.WaitTimeout(30 * time.Second) {
				return errors.New("publish " + replyKind + ": timeout")
			}
			return t.Error()
		})
	}
}

func (u *Uplink) publishStatus(c paho.Client, online bool) { u.publish(c, u.status(), online) }

// publishedKey is the device states last published (devicesKey form).
func (u *Uplink) publishedKey() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.published
}

// status is the office status as the daemon reports it.
func (u *Uplink) status() wire.Status {
	if u.opt.Status != nil {
		return u.opt.Status()
	}
	return wire.Status{Office: u.opt.Office}
}

func (u *Uplink) publish(c paho.Client, st wire.Status, online bool) {
	u.mu.Lock()
	u.published = devicesKey(st.Devices)
	u.mu.Unlock()
	st.Online, st.Time = online, time.Now().UTC()
	payload, _ := json.Marshal(st)
	t := c.Publish(wire.Topic(u.opt.Office, wire.KindStatus), 1, true, payload)
	t.WaitTimeout(5 * time.Second)
}

func (u *Uplink) setConnected(on bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stats.Connected = on
	if on {
		u.stats.ConnectedSince = time.Now()
		u.stats.Connects++
		u.stats.LastError = ""
	} else {
		u.stats.ConnectedSince = time.Time{}
		u.stats.InFlight = 0
	}
}

func (u *Uplink) setError(err error) {
	if err == nil {
		return
	}
	u.mu.Lock()
	u.stats.LastError = err.Error()
	u.stats.Errors++
	u.mu.Unlock()
}
