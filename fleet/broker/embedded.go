package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/mqtt/brokerlisten"
)

// Embedded is the in-process mochi broker. The fleet talks to it through
// mochi's inline client, so it needs no socket of its own.
type Embedded struct {
	srv     *mqtt.Server
	auth    *authHook
	tcp     *brokerlisten.TCP
	tls     *brokerlisten.TCP
	subID   atomic.Int32
	serving atomic.Bool
}

// NewEmbedded creates the broker and binds its listeners, so the actual
// addresses (":0" in tests) are known before Serve.
func NewEmbedded(cfg config.Embedded, offices []config.Office, log *slog.Logger) (*Embedded, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = 16 << 20         // bounds memory per message; batches are far smaller
	caps.MaximumSessionExpiryInterval = 86400 // forgotten offices must not hold sessions forever
	// What the broker writes to an office is acks (at most the edge's window
	// of batches in flight), commands and its config: a queue of 64 is ample.
	// mochi's default of 8,192 costs 64 KiB per connection before any traffic,
	// 450 MB for 7,000 offices.
	caps.MaximumClientWritesPending = 64
	e := &Embedded{
		srv:  mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: log.With("component", "mqtt")}),
		auth: &authHook{throttle: newThrottle(cfg.OfficeLimits, log)},
	}
	e.auth.server = e.srv
	e.auth.setOffices(offices)
	if err := e.srv.AddHook(e.auth, nil); err != nil {
		return nil, fmt.Errorf("mqtt auth hook: %w", err)
	}
	if cfg.TCP != "" {
		e.tcp = brokerlisten.NewTCP("tcp", cfg.TCP, nil)
		if err := e.srv.AddListener(e.tcp); err != nil {
			return nil, fmt.Errorf("broker.embedded.tcp %s: %w", cfg.TCP, err)
		}
	}
	if cfg.TLS.Listen != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			e.srv.Close()
			return nil, fmt.Errorf("broker.embedded.tls: %w", err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		e.tls = brokerlisten.NewTCP("tls", cfg.TLS.Listen, tc)
		if err := e.srv.AddListener(e.tls); err != nil {
			e.srv.Close()
			return nil, fmt.Errorf("broker.embedded.tls.listen %s: %w", cfg.TLS.Listen, err)
		}
	}
	return e, nil
}

// Serve starts accepting clients.
func (e *Embedded) Serve() error {
	if err := e.srv.Serve(); err != nil {
		return fmt.Errorf("mqtt serve: %w", err)
	}
	e.serving.Store(true)
	return nil
}

// TCPAddr and TLSAddr return the bound addresses, "" when disabled.
func (e *Embedded) TCPAddr() string { return addr(e.tcp) }
func (e *Embedded) TLSAddr() string { return addr(e.tls) }

func addr(l *brokerlisten.TCP) string {
	if l == nil {
		return ""
	}
	return l.Address()
}

// SetOffices replaces the credential table and disconnects offices that are
// no longer in it, so a revoked office is out at once rather than at its next reconnect.
func (e *Embedded) SetOffices(offices []config.Office) {
	e.auth.setOffices(offices)
	for _, cl := range e.srv.Clients.GetAll() {
		if cl.Net.Inline || cl.Closed() {
			continue
		}
		if _, ok := e.auth.known(string(cl.Properties.Username)); !ok {
			e.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
		}
	}
}

func (e *Embedded) Publish(topic string, payload []byte, qos byte, retain bool) error {
	return e.srv.Publish(topic, payload, retain, qos)
}

func (e *Embedded) Subscribe(filter string, h Handler) error {
	id := int(e.subID.Add(1))
	return e.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		h(pk.TopicName, pk.Payload)
	})
}

func (e *Embedded) SubscribeShared(filter string, h WorkHandler) error {
	return e.Subscribe(filter, func(topic string, payload []byte) { h(topic, payload, func() {}) })
}

// Throttled counts the offices' messages and connects refused by their
// office_limits, by reason (Throttle*).
func (e *Embedded) Throttled() map[string]uint64 { return e.auth.throttle.Throttled() }

func (e *Embedded) Ready() error {
	if !e.serving.Load() {
		return errors.New("embedded broker not serving")
	}
	return nil
}

// Close stops the server. Its listeners close the offices' connections
// themselves (see brokerlisten), so this cannot hang on mochi's client sweep.
func (e *Embedded) Close() error {
	e.serving.Store(false)
	return e.srv.Close()
}
