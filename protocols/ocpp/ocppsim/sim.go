// Package ocppsim simulates OCPP 1.6J and 2.0.1 charge points against a real
// central system over WebSocket: boot, status, sessions for simulated cars,
// meter values, charging profiles applied after a realistic delay, an
// offline queue that survives disconnects, and misbehaviour on request.
package ocppsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocppj"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// Versions the simulator speaks.
const (
	V16  = "1.6"
	V201 = "2.0.1"
)

// Config describes one simulated charge point.
type Config struct {
	URL           string        // ws://host:port/ocpp (the id is appended)
	ID            string        // charge point id
	Version       string        // "1.6" (default) or "2.0.1"
	Password      string        // basic auth (security profiles 1 and 2)
	TLS           *tls.Config   // wss (profiles 2 and 3; client cert for 3)
	Connectors    int           // default 1 (2.0.1: EVSEs, one connector each)
	MaxCurrentA   float64       // hardware limit per phase, default 32
	Phases        int           // default 3
	VoltageV      float64       // default 230
	MeterInterval time.Duration // default 10s; ChangeConfiguration/SetVariables may change it
	ProfileDelay  time.Duration // time a new limit takes to reach the car, default 2s
	Tick          time.Duration // physics step, default 1s
	// RequestTimeout is how long the charger waits for an answer, default
	// 5s. A request in flight when the socket drops is never answered: the
	// library would wait 30 s before the queue could resend it.
	RequestTimeout time.Duration
	Misbehave      Misbehave
}

// Misbehave switches on faults the central system must survive.
type Misbehave struct {
	RejectProfiles bool // answer SetChargingProfile with Rejected
	// MalformedFrames sends a burst of malformed frames (not JSON, not an
	// array, unknown action, wrong payload types) after every boot, before
	// the charger's normal traffic.
	MalformedFrames bool
	// DuplicateConnection opens a second socket with the same id after the
	// first boot, while the first is alive, as a charger with a cloned
	// identity or a half-dead modem would. The second socket boots and then
	// answers nothing.
	DuplicateConnection bool
}

func (c *Config) defaults() {
	if c.Version == "" {
		c.Version = V16
	}
	if c.Connectors == 0 {
		c.Connectors = 1
	}
	if c.MaxCurrentA == 0 {
		c.MaxCurrentA = 32
	}
	if c.Phases == 0 {
		c.Phases = 3
	}
	if c.VoltageV == 0 {
		c.VoltageV = 230
	}
	if c.MeterInterval == 0 {
		c.MeterInterval = 10 * time.Second
	}
	if c.ProfileDelay == 0 {
		c.ProfileDelay = 2 * time.Second
	}
	if c.Tick == 0 {
		c.Tick = time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
}

// wire is one OCPP version's side of the charge point: it turns the
// simulator's events into that version's messages. Methods block until the
// central system answers.
type wire interface {
	start(url string) error
	stop()
	connected() bool
	write(frame []byte) error
	subprotocol() string
	malformed() []string
	bootFrame() string
	boot() (accepted bool, retry time.Duration, err error)
	heartbeat() error
	status(n int, status string, ss *simSession, at time.Time) error
	// localTxID is the id the charger gives a new transaction; "" when the
	// central system assigns it (1.6).
	localTxID(n int) string
	startTx(n int, ss *simSession, idTag string, meterWh float64, at time.Time) (accepted bool, err error)
	meter(n int, ss *simSession, r reading, at time.Time, triggered bool) error
	stopTx(n int, ss *simSession, idTag string, meterWh float64, at time.Time, reason string) error
	authorize(idTag string) (string, error)
	dataTransfer(vendorID, messageID, data string) (string, error)
}

// ChargePoint is one simulated OCPP charge point.
type ChargePoint struct {
	cfg Config
	log *slog.Logger
	w   wire

	mu         sync.Mutex
	conns      []*connector // index 0 unused: connectors count from 1
	queue      []func() error
	wake       chan struct{}
	interval   time.Duration
	registered bool
	boots      int
	profiles   []profile
}

// New builds a charge point; Run connects it.
func New(cfg Config, logger *slog.Logger) (*ChargePoint, error) {
	cfg.defaults()
	if cfg.URL == "" || cfg.ID == "" {
		return nil, errors.New("ocppsim: URL and ID are required")
	}
	if cfg.Version != V16 && cfg.Version != V201 {
		return nil, fmt.Errorf("ocppsim %s: version %q: must be %s or %s", cfg.ID, cfg.Version, V16, V201)
	}
	if logger == nil {
		logger = slog.Default()
	}
	newClient := func() *ws.Client {
		var client *ws.Client
		if cfg.TLS != nil {
			client = ws.NewTLSClient(cfg.TLS)
		} else {
			client = ws.NewClient()
		}
		tc := ws.NewClientTimeoutConfig()
		tc.RetryBackOffWaitMinimum, tc.RetryBackOffRandomRange, tc.RetryBackOffRepeatTimes = 300*time.Millisecond, 0, 3
		client.SetTimeoutConfig(tc)
		return client
	}
	// Reconnect fast: the tests and the demo should not wait 10-25 s.
	client := newRedialer(newClient, 300*time.Millisecond)
	if cfg.Password != "" {
		client.SetBasicAuth(cfg.ID, cfg.Password)
	}
	c := &ChargePoint{cfg: cfg, log: logger, wake: make(chan struct{}, 1), interval: cfg.MeterInterval}
	c.conns = make([]*connector, cfg.Connectors+1)
	for i := 1; i <= cfg.Connectors; i++ {
		c.conns[i] = &connector{id: i, status: stAvailable}
	}
	if cfg.Version == V201 {
		c.w = newWire201(c, client)
	} else {
		c.w = newWire16(c, client)
	}
	return c, nil
}

// Run connects, boots and simulates until ctx ends.
func (c *ChargePoint) Run(ctx context.Context) error {
	for {
		err := c.w.start(c.cfg.URL) // the library appends the id
		if err == nil {
			break
		}
		c.log.Debug("ocppsim: connect failed", "id", c.cfg.ID, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	defer c.w.stop()
	if err := c.boot(ctx); err != nil {
		return err
	}
	if c.cfg.Misbehave.DuplicateConnection {
		go func() {
			if err := c.OpenDuplicate(ctx); err != nil {
				c.log.Warn("ocppsim: duplicate connection failed", "id", c.cfg.ID, "err", err)
			}
		}()
	}
	for i := 1; i <= c.cfg.Connectors; i++ {
		c.enqueueStatus(i)
	}
	// The wire stops only after the sender is done: the library panics on a
	// request sent into a stopped client.
	senderDone := make(chan struct{})
	go func() { c.sender(ctx); close(senderDone) }()
	defer func() { <-senderDone }()
	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	lastMeter := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			c.step(c.cfg.Tick)
			c.mu.Lock()
			due := now.Sub(lastMeter) >= c.interval
			c.mu.Unlock()
			if due {
				lastMeter = now
				c.enqueueMeterValues(now, false)
			}
		}
	}
}

// boot repeats BootNotification until Accepted, as the spec says a charger
// must before it sends anything else.
func (c *ChargePoint) boot(ctx context.Context) error {
	for {
		accepted, retry, err := c.w.boot()
		if err == nil && accepted {
			c.booted()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(retry, 2*time.Second)):
		}
	}
}

func (c *ChargePoint) booted() {
	c.mu.Lock()
	c.registered = true
	c.boots++
	c.mu.Unlock()
	if c.cfg.Misbehave.MalformedFrames {
		_ = c.SendMalformed()
	}
}

// Boots is how many accepted BootNotifications the charger sent (a Reset
// makes it boot again).
func (c *ChargePoint) Boots() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boots
}

// Connected reports whether the WebSocket is up.
func (c *ChargePoint) Connected() bool { return c.w.connected() }

// ID is the charge point id.
func (c *ChargePoint) ID() string { return c.cfg.ID }

// Version is the OCPP version the charge point speaks ("1.6" or "2.0.1").
func (c *ChargePoint) Version() string { return c.cfg.Version }

func (c *ChargePoint) conn(n int) (*connector, error) {
	if n < 1 || n >= len(c.conns) {
		return nil, fmt.Errorf("ocppsim %s: no connector %d", c.cfg.ID, n)
	}
	return c.conns[n], nil
}

// Authorize asks the central system about idTag now (not queued: a driver
// waits at the charger for the answer) and returns its status word.
func (c *ChargePoint) Authorize(idTag string) (string, error) { return c.w.authorize(idTag) }

// DataTransfer sends a vendor-specific message and returns the status word.
func (c *ChargePoint) DataTransfer(vendorID, messageID, data string) (string, error) {
	return c.w.dataTransfer(vendorID, messageID, data)
}

// endpoint is the library's ocppj client with our request timeout.
func (c *ChargePoint) endpoint(client ws.WsClient, profiles ...*ocpp.Profile) *ocppj.Client {
	d := ocppj.NewDefaultClientDispatcher(ocppj.NewFIFOClientQueue(0))
	d.SetTimeout(c.cfg.RequestTimeout)
	return ocppj.NewClient(c.cfg.ID, client, d, nil, profiles...)
}
