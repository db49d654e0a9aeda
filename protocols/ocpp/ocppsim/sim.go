// Package ocppsim simulates OCPP 1.6J charge points against a real central
// system over WebSocket: boot, status, sessions for simulated cars, meter
// values, charging profiles applied after a realistic delay, an offline queue
// that survives disconnects, and misbehaviour on request.
package ocppsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	ocpp16 "github.com/lorenzodonini/ocpp-go/ocpp1.6"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// Config describes one simulated charge point.
type Config struct {
	URL           string        // ws://host:port/ocpp (the id is appended)
	ID            string        // charge point id
	Password      string        // basic auth (security profiles 1 and 2)
	TLS           *tls.Config   // wss (profiles 2 and 3; client cert for 3)
	Connectors    int           // default 1
	MaxCurrentA   float64       // hardware limit per phase, default 32
	Phases        int           // default 3
	VoltageV      float64       // default 230
	MeterInterval time.Duration // default 10s; ChangeConfiguration may change it
	ProfileDelay  time.Duration // time a new limit takes to reach the car, default 2s
	Tick          time.Duration // physics step, default 1s
	Misbehave     Misbehave
}

// Misbehave switches on faults the central system must survive.
type Misbehave struct {
	RejectProfiles bool // answer SetChargingProfile with Rejected
}

func (c *Config) defaults() {
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
}

// ChargePoint is one simulated OCPP 1.6J charge point.
type ChargePoint struct {
	cfg Config
	log *slog.Logger
	cp  ocpp16.ChargePoint

	mu         sync.Mutex
	conns      []*connector // index 0 unused: connectors count from 1
	queue      []func() error
	wake       chan struct{}
	interval   time.Duration
	registered bool
}

// New builds a charge point; Run connects it.
func New(cfg Config, logger *slog.Logger) (*ChargePoint, error) {
	cfg.defaults()
	if cfg.URL == "" || cfg.ID == "" {
		return nil, errors.New("ocppsim: URL and ID are required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	var client *ws.Client
	if cfg.TLS != nil {
		client = ws.NewTLSClient(cfg.TLS)
	} else {
		client = ws.NewClient()
	}
	if cfg.Password != "" {
		client.SetBasicAuth(cfg.ID, cfg.Password)
	}
	tc := ws.NewClientTimeoutConfig()
	// Reconnect fast: the tests and the demo should not wait 10-25 s.
	tc.RetryBackOffWaitMinimum, tc.RetryBackOffRandomRange, tc.RetryBackOffRepeatTimes = 300*time.Millisecond, 0, 3
	client.SetTimeoutConfig(tc)
	c := &ChargePoint{cfg: cfg, log: logger, wake: make(chan struct{}, 1), interval: cfg.MeterInterval}
	c.conns = make([]*connector, cfg.Connectors+1)
	for i := 1; i <= cfg.Connectors; i++ {
		c.conns[i] = &connector{id: i, status: core.ChargePointStatusAvailable}
	}
	c.cp = ocpp16.NewChargePoint(cfg.ID, nil, client)
	h := &handler{c}
	c.cp.SetCoreHandler(h)
	c.cp.SetSmartChargingHandler(h)
	c.cp.SetRemoteTriggerHandler(h)
	return c, nil
}

// Run connects, boots and simulates until ctx ends.
func (c *ChargePoint) Run(ctx context.Context) error {
	for {
		err := c.cp.Start(c.cfg.URL) // the library appends the id
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
	defer c.cp.Stop()
	if err := c.boot(ctx); err != nil {
		return err
	}
	for i := 1; i <= c.cfg.Connectors; i++ {
		c.enqueueStatus(i)
	}
	go c.sender(ctx)
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
				c.enqueueMeterValues(now)
			}
		}
	}
}

// boot repeats BootNotification until Accepted, as the spec says a charger
// must before it sends anything else.
func (c *ChargePoint) boot(ctx context.Context) error {
	for {
		conf, err := c.cp.BootNotification("PolisSim", "Polis", func(r *core.BootNotificationRequest) {
			r.FirmwareVersion = "sim-1.0"
		})
		if err == nil && conf.Status == core.RegistrationStatusAccepted {
			c.mu.Lock()
			c.registered = true
			c.mu.Unlock()
			return nil
		}
		wait := time.Second
		if err == nil && conf.Interval > 0 {
			wait = time.Duration(conf.Interval) * time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(wait, 2*time.Second)):
		}
	}
}

// enqueue adds a message to the offline queue. The sender drains it in
// order whenever the socket is up; a message that fails stays at the head.
func (c *ChargePoint) enqueue(send func() error) {
	c.mu.Lock()
	c.queue = append(c.queue, send)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Queued is how many messages wait in the offline queue.
func (c *ChargePoint) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func (c *ChargePoint) sender(ctx context.Context) {
	for {
		c.mu.Lock()
		var next func() error
		if len(c.queue) > 0 {
			next = c.queue[0]
		}
		c.mu.Unlock()
		if next == nil || !c.cp.IsConnected() {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err := next(); err != nil {
			c.log.Debug("ocppsim: send failed, keeping in queue", "id", c.cfg.ID, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		c.mu.Lock()
		c.queue = c.queue[1:]
		c.mu.Unlock()
	}
}

func (c *ChargePoint) enqueueStatus(n int) {
	c.mu.Lock()
	st := c.conns[n].status
	c.mu.Unlock()
	at := types.NewDateTime(time.Now())
	c.enqueue(func() error {
		_, err := c.cp.StatusNotification(n, core.NoError, st, func(r *core.StatusNotificationRequest) { r.Timestamp = at })
		return err
	})
}

// Connected reports whether the WebSocket is up.
func (c *ChargePoint) Connected() bool { return c.cp.IsConnected() }

// ID is the charge point id.
func (c *ChargePoint) ID() string { return c.cfg.ID }

func (c *ChargePoint) conn(n int) (*connector, error) {
	if n < 1 || n >= len(c.conns) {
		return nil, fmt.Errorf("ocppsim %s: no connector %d", c.cfg.ID, n)
	}
	return c.conns[n], nil
}
