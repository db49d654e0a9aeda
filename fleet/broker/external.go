package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/pahotoken"
)

// External connects to an existing broker as a paho client. Subscriptions are
// remembered and renewed on every reconnect, because the session is clean:
// unacknowledged batches are resent by the offices anyway.
type External struct {
	cfg    config.External
	log    *slog.Logger
	client paho.Client

	mu   sync.Mutex
	subs map[string]Handler // full filter (with $share prefix) → handler
	// live holds the filters the broker confirmed (SUBACK) on the current
	// connection. Ready waits for all of them: on a NATS cluster a QoS 1
	// subscription takes up to a second or more to set up, and an office's
	// status published meanwhile would never reach this instance.
	live map[string]bool
}

// NewExternal builds the client; Connect starts it.
func NewExternal(cfg config.External, log *slog.Logger) (*External, error) {
	e := &External{cfg: cfg, log: log, subs: map[string]Handler{}, live: map[string]bool{}}
	opts := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(true).SetProtocolVersion(4). // 3.1.1 only: no silent fallback to 3.1, which NATS refuses
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOnConnectHandler(e.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Warn("external broker connection lost", "err", err)
			e.mu.Lock()
			defer e.mu.Unlock()
			clear(e.live) // the next connection subscribes afresh
		})
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("broker.external.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker.external.ca_file %s: no PEM certificates", cfg.CAFile)
		}
		opts.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	for _, u := range cfg.FallbackURLs {
		opts.AddBroker(u)
	}
	e.client = paho.NewClient(opts)
	return e, nil
}

// Connect starts connecting; with ConnectRetry it keeps trying in the
// background, so a broker that is down at start-up does not stop the fleet.
func (e *External) Connect() {
	e.client.Connect()
}

func (e *External) onConnect(c paho.Client) {
	e.log.Info("connected to external broker", "url", e.cfg.URL)
	e.mu.Lock()
	defer e.mu.Unlock()
	for filter, h := range e.subs {
		e.subscribe(filter, h)
	}
}

// subscribe asks for filter; called with e.mu held. The confirmation is
// awaited apart (paho's callbacks must not block): a refused or failed
// subscription is logged and asked again while the connection lasts.
func (e *External) subscribe(filter string, h Handler) {
	e.live[filter] = false
	tok := e.client.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		h(m.Topic(), m.Payload())
	})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := pahotoken.Wait(ctx, tok)
		e.mu.Lock()
		defer e.mu.Unlock()
		if err == nil {
			e.live[filter] = true
			return
		}
		e.log.Error("subscribe failed, retrying", "filter", filter, "err", err)
		time.AfterFunc(subscribeRetry, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.client.IsConnectionOpen() && !e.live[filter] {
				e.subscribe(filter, h)
			}
		})
	}()
}

// subscribeRetry is the pause before asking again for a refused subscription.
const subscribeRetry = 2 * time.Second

func (e *External) Subscribe(filter string, h Handler) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs[filter] = h
	if e.client.IsConnectionOpen() {
		e.subscribe(filter, h)
	}
	return nil
}

func (e *External) SubscribeShared(filter string, h WorkHandler) error {
	return e.Subscribe("$share/"+e.cfg.ShareGroup+"/"+filter, func(topic string, payload []byte) { h(topic, payload, func() {}) })
}

// Publish does not wait for the broker's PUBACK: the delivery goroutine may be
// the one blocked behind a full ingest queue, and waiting here would deadlock.
// A lost ack is harmless: the office resends and the write is idempotent.
func (e *External) Publish(topic string, payload []byte, qos byte, retain bool) error {
	if !e.client.IsConnectionOpen() {
		return errors.New("external broker not connected")
	}
	tok := e.client.Publish(topic, qos, retain, payload)
	go func() {
		if tok.WaitTimeout(30*time.Second) && tok.Error() != nil {
			e.log.Warn("publish failed", "topic", topic, "err", tok.Error())
		}
	}()
	return nil
}

func (e *External) Ready() error {
	if !e.client.IsConnectionOpen() {
		return fmt.Errorf("external broker %s not connected", e.cfg.URL)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for filter, ok := range e.live {
		if !ok {
			return fmt.Errorf("subscription to %s not confirmed by the broker yet", filter)
		}
	}
	return nil
}

func (e *External) Close() error {
	e.client.Disconnect(1000)
	return nil
}
