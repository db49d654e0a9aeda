package mqtt

import (
	"context"
	"fmt"
	"net"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// external subscribes to the site's broker. The session is persistent
// (clean session off, fixed client id), subscriptions are QoS 1, and a
// message is acknowledged only after the buffer took it, so the broker keeps
// whatever the edge has not made durable.
type external struct {
	s      *Service
	client paho.Client
	ctx    context.Context // Run's: ends the retries of a message the buffer refused
}

func newExternal(s *Service) *external { return &external{s: s} }

func (x *external) filters() map[string]byte {
	f := map[string]byte{}
	for _, d := range x.s.cfg.Devices {
		f[d.Topic+"/#"] = 1 // "/#" also matches the base topic itself
	}
	return f
}

func (x *external) start(ctx context.Context) error {
	x.ctx = ctx
	cfg := x.s.cfg.External
	id := cfg.ClientID
	if id == "" {
		id = "polis-edge-mqtt"
	}
	opts := paho.NewClientOptions().AddBroker(cfg.URL).SetClientID(id).
		SetUsername(cfg.Username).SetPassword(cfg.Password).
		SetCleanSession(false).SetOrderMatters(true).SetAutoAckDisabled(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).SetKeepAlive(30 * time.Second)
	opts.SetDefaultPublishHandler(x.onMessage)
	opts.SetOnConnectHandler(func(c paho.Client) {
		tok := c.SubscribeMultiple(x.filters(), x.onMessage)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			x.s.log.Error("subscribe on site broker failed", "err", tok.Error())
			return
		}
		x.s.log.Info("subscribed on site broker", "url", cfg.URL, "filters", len(x.filters()))
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		x.s.log.Warn("site broker connection lost", "err", err)
	})
	x.client = paho.NewClient(opts)
	tok := x.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("connect %s: %w", cfg.URL, err)
		}
	case <-ctx.Done():
	}
	return nil
}

// onMessage runs in paho's router goroutine (order matters), one message at
// a time; unacknowledged messages come back after a reconnect.
//
// The limits are the embedded broker's, applied per device: a flood or an
// oversized payload is acknowledged (the site broker must not redeliver
// it) and counted, and never reaches the buffer.
func (x *external) onMessage(_ paho.Client, m paho.Message) {
	if d, _ := x.s.route(m.Topic()); d != nil {
		reason, detail := "", ""
		switch {
		case len(m.Payload()) > int(x.s.cfg.Limits.MaxPayload):
			reason, detail = "oversized", fmt.Sprintf("%d bytes", len(m.Payload()))
		case !d.bucket.Allow():
			reason, detail = "rate_limited", fmt.Sprintf("over %g messages/s", x.s.cfg.Limits.MaxPublishRate)
		}
		if reason != "" {
			d.reject(reason, detail)
			x.s.stats.reject(d.cfg.ID, reason)
			m.Ack()
			return
		}
	}
	// A message the buffer could not take is retried here until it can:
	// leaving it unacknowledged and moving on stalls delivery for good,
	// since the site broker stops sending once its in-flight window is
	// full and MQTT redelivers only on a new connection. The buffer failing
	// is office-wide (disk full), so holding back later messages loses
	// nothing; they wait at the site broker. When the service stops, the
	// message stays unacknowledged and the persistent session redelivers it.
	ctx := x.ctx
	pause := 100 * time.Millisecond
	for {
		err := x.s.handle(ctx, m.Topic(), m.Payload())
		if err == nil {
			break
		}
		x.s.log.Warn("message not buffered; retrying before acknowledging", "topic", m.Topic(), "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
	m.Ack()
}

func (x *external) publish(ctx context.Context, topic string, payload []byte) error {
	tok := x.client.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (x *external) addr() net.Addr { return nil }

func (x *external) stop() {
	if x.client != nil {
		x.client.Disconnect(250)
	}
}
