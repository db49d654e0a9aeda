package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/polis-edge/polis/fleet/config"
)

// NATS is the cluster mode. Edges speak MQTT to any node of a NATS cluster
// (nats-server's MQTT listener, unchanged for them). The fleet reads and
// writes status and acks through that same MQTT listener (the embedded
// External client), while telemetry is captured by a replicated JetStream
// work-queue stream that every fleet instance consumes through one durable
// consumer: N instances split the batches, and a batch an instance took but
// did not finish (it died) is redelivered to another after ack_wait.
//
// Why JetStream for telemetry rather than MQTT shared subscriptions:
// nats-server speaks MQTT 3.1.1, which has no $share; and a work queue that
// survives a node and an instance is exactly what JetStream is.
type NATS struct {
	*External
	cfg config.NATS
	log *slog.Logger
	nc  *nats.Conn

	consuming atomic.Bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// TelemetrySubjects is what the stream captures: MQTT topic
// polis/v1/<office>/telemetry arrives on NATS as polis.v1.<office>.telemetry.
const TelemetrySubjects = "polis.v1.*.telemetry"

// NewNATS builds the MQTT side and connects the NATS client; both keep
// reconnecting in the background, so a cluster that is still forming at
// start-up does not stop the fleet.
func NewNATS(ext config.External, cfg config.NATS, log *slog.Logger) (*NATS, error) {
	e, err := NewExternal(ext, log)
	if err != nil {
		return nil, err
	}
	n := &NATS{External: e, cfg: cfg, log: log}
	opts := []nats.Option{
		nats.Name(ext.ClientID), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats connection lost", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrl()) }),
	}
	if cfg.Username != "" {
		opts = append(opts, nats.UserInfo(cfg.Username, cfg.Password))
	}
	if n.nc, err = nats.Connect(strings.Join(cfg.URLs, ","), opts...); err != nil {
		return nil, fmt.Errorf("broker.nats: %w", err)
	}
	return n, nil
}

// SubscribeShared consumes the telemetry stream. filter must be the telemetry
// wildcard: the stream is the only shared subscription the fleet has.
func (n *NATS) SubscribeShared(filter string, h WorkHandler) error {
	if subjectOf(filter) != TelemetrySubjects {
		return fmt.Errorf("nats mode shares only %s, not %s", TelemetrySubjects, filter)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.consume(ctx, h)
	}()
	return nil
}

// consume (re)creates the stream and consumer and delivers until ctx ends;
// any failure (no JetStream leader yet, a node gone) is retried.
func (n *NATS) consume(ctx context.Context, h WorkHandler) {
	for ctx.Err() == nil {
		err := n.consumeOnce(ctx, h)
		n.consuming.Store(false)
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("telemetry stream not consumed, retrying", "stream", n.cfg.Stream, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func (n *NATS) consumeOnce(ctx context.Context, h WorkHandler) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(setup, jetstream.StreamConfig{
		Name: n.cfg.Stream, Subjects: []string{TelemetrySubjects},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: n.cfg.Replicas,
		// Edges resend what is not acked, so the stream is a hand-off, not an
		// archive: a day of backlog is the most it ever needs to hold.
		MaxAge: 24 * time.Hour, Discard: jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", n.cfg.Stream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(setup, jetstream.ConsumerConfig{
		Durable: n.cfg.Consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: n.cfg.AckWait,
		MaxAckPending: 4096, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", n.cfg.Consumer, err)
	}
	failed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		h(topicOf(m.Subject()), m.Data(), func() {
			if err := m.Ack(); err != nil {
				n.log.Debug("jetstream ack", "subject", m.Subject(), "err", err) // redelivered; writes are idempotent
			}
		})
	}, jetstream.PullMaxMessages(256), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			select {
			case failed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()
	n.consuming.Store(true)
	n.log.Info("consuming telemetry stream", "stream", n.cfg.Stream, "consumer", n.cfg.Consumer)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-failed:
		return err
	}
}

// Publish sends what is not retained (acks, command requests) as core NATS
// messages, which the cluster delivers to the offices' MQTT subscriptions
// directly. Through MQTT QoS 1 every ack would be stored in JetStream and
// delivered by a per-session consumer: heavy at 7,000 offices, and stalled
// for as long as JetStream re-elects leaders after a node dies. An ack lost
// on the way costs only a resend from the edge (writes are idempotent).
// Retained messages need the MQTT side, which keeps them.
func (n *NATS) Publish(topic string, payload []byte, qos byte, retain bool) error {
	if retain {
		return n.External.Publish(topic, payload, qos, retain)
	}
	return n.nc.Publish(subjectOf(topic), payload)
}

// Ready needs both halves: the MQTT side for status and acks, and the stream.
func (n *NATS) Ready() error {
	if err := n.External.Ready(); err != nil {
		return err
	}
	if !n.nc.IsConnected() {
		return errors.New("nats not connected")
	}
	if !n.consuming.Load() {
		return fmt.Errorf("telemetry stream %s not consumed yet", n.cfg.Stream)
	}
	return nil
}

// Close stops consuming first: batches handed to the fleet are finished by
// its workers, the rest stay in the stream for another instance.
func (n *NATS) Close() error {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	n.nc.Drain()
	return n.External.Close()
}

// subjectOf maps an MQTT filter to a NATS subject (the cluster's own rule:
// '/' → '.', '+' → '*', '#' → '>').
func subjectOf(filter string) string {
	r := strings.NewReplacer("/", ".", "+", "*", "#", ">")
	return r.Replace(filter)
}

// topicOf maps a telemetry subject back to its MQTT topic. Office ids cannot
// contain '.', so the mapping is exact.
func topicOf(subject string) string { return strings.ReplaceAll(subject, ".", "/") }
