package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/mqtt/locker"
	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/sample"
)

// Sink is the edge's durable buffer: Append returns once samples are
// committed.
type Sink interface {
	Append(ctx context.Context, samples ...sample.Sample) error
}

// Service is the MQTT side of the office: broker or client, sensors,
// lockers, availability.
type Service struct {
	cfg     Config
	sink    Sink
	log     *slog.Logger
	start   time.Time
	devices []*device
	byTopic map[string]*device   // base topic → device
	byUser  map[string][]*device // broker username → its devices
	cmd     *locker.Commander

	trMu      sync.RWMutex
	transport transport // embedded broker or external client; replaced when Run runs again
	runs      atomic.Int32
	runCtx    context.Context // Run's ctx, for work started by broker hooks
	stats     *stats

	pendingMu sync.Mutex
	pending   []sample.Sample // service-made events the sink refused, retried by the ticker
}

// transport is how the service meets the devices.
type transport interface {
	start(ctx context.Context) error
	publish(ctx context.Context, topic string, payload []byte) error
	addr() net.Addr
	stop()
}

// New validates cfg (after defaults) and prepares the service; nothing
// listens until Run.
func New(cfg Config, store *bbolt.DB, sink Sink, logger *slog.Logger) (*Service, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || sink == nil {
		return nil, errors.New("mqtt: store and sink are required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Service{cfg: cfg, sink: sink, log: logger.With("component", "mqtt"), start: time.Now(),
		byTopic: map[string]*device{}, byUser: map[string][]*device{}, stats: newStats()}
	for _, dc := range cfg.Devices {
		d, err := newDevice(dc, s.start)
		if err != nil {
			return nil, err
		}
		d.bucket = newLimiter(cfg.Limits.MaxPublishRate, cfg.Limits.PublishBurst)
		s.devices = append(s.devices, d)
		s.byTopic[dc.Topic] = d
		s.byUser[dc.Username] = append(s.byUser[dc.Username], d)
	}
	cmd, err := locker.NewCommander(store, commandPublisher{s}, sink, s.authorize, cfg.CommandTimeout, s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = cmd
	if s.transport, err = s.newTransport(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) newTransport() (transport, error) {
	if s.cfg.Mode == ModeEmbedded {
		return newEmbedded(s)
	}
	return newExternal(s), nil
}

// tp is the current transport.
func (s *Service) tp() transport {
	s.trMu.RLock()
	defer s.trMu.RUnlock()
	return s.transport
}

// Run serves until ctx is done.
//
// Run may be called again after it returned (the daemon restarts a failed
// driver): a stopped broker cannot serve again, so each further run builds
// a fresh transport.
func (s *Service) Run(ctx context.Context) error {
	if s.runs.Add(1) > 1 {
		t, err := s.newTransport()
		if err != nil {
			return fmt.Errorf("mqtt %s: %w", s.cfg.Mode, err)
		}
		s.trMu.Lock()
		s.transport = t
		s.trMu.Unlock()
	}
	tr := s.tp()
	s.runCtx = ctx // before any listener accepts, so hooks see it
	if err := tr.start(ctx); err != nil {
		tr.stop() // release the listeners that did bind
		return fmt.Errorf("mqtt %s: %w", s.cfg.Mode, err)
	}
	defer tr.stop()
	go s.cmd.Run(ctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			s.checkSilence(ctx, now)
			if e, ok := tr.(*embedded); ok {
				e.hook.sweep()
			}
		}
	}
}

// Addr is the bound TCP address of the embedded broker (nil before Run has
// bound it, and in external mode).
func (s *Service) Addr() net.Addr { return s.tp().addr() }

// ListenerAddr is the bound address of one embedded-broker listener
// (ListenerTCP, ListenerTLS or ListenerWebSocket), nil if it does not run.
func (s *Service) ListenerAddr(id string) net.Addr {
	e, ok := s.tp().(*embedded)
	if !ok {
		return nil
	}
	if a, ok := e.listeners.Load(id); ok {
		return a.(*net.TCPAddr)
	}
	return nil
}

// Devices reports every configured device.
func (s *Service) Devices() []health.Device {
	out := make([]health.Device, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, d.health())
	}
	return out
}

// route finds the device owning topic: its base topic or a parent of it.
func (s *Service) route(topic string) (*device, string) {
	for t := topic; ; {
		if d, ok := s.byTopic[t]; ok {
			return d, strings.TrimPrefix(strings.TrimPrefix(topic, t), "/")
		}
		i := strings.LastIndexByte(t, '/')
		if i < 0 {
			return nil, ""
		}
		t = t[:i]
	}
}

// handle processes one inbound message. It returns an error only when the
// message could not be made durable, so the caller must not acknowledge it.
func (s *Service) handle(ctx context.Context, topic string, payload []byte) error {
	now := time.Now()
	d, rel := s.route(topic)
	if d == nil {
		if !s.chatter(topic) {
			s.stats.reject("", "unknown_topic")
		}
		return nil
	}
	d.count("messages", 1)
	if state, ok := availability(d.cfg, rel, payload); ok {
		var evs []sample.Sample
		if state {
			evs = d.seen(now, true)
		} else {
			evs = d.gone(now, "announced offline")
		}
		return s.append(ctx, d, evs)
	}
	if d.cfg.Kind == KindLocker {
		return s.handleLocker(ctx, d, rel, payload, now)
	}
	samples, rejects := d.mapping.Apply(topic, rel, payload, d.tags, now)
	for _, r := range rejects {
		d.reject(r.Reason, r.Detail)
		s.stats.reject(d.cfg.ID, r.Reason)
	}
	out := append(samples, d.alarmEvents(samples, now)...)
	out = append(out, d.seen(now, len(samples) > 0 || len(rejects) == 0)...)
	if len(samples) > 0 {
		d.count("samples", uint64(len(samples)))
	}
	return s.append(ctx, d, out)
}

func (s *Service) append(ctx context.Context, d *device, out []sample.Sample) error {
	if len(out) == 0 {
		return nil
	}
	if err := s.sink.Append(ctx, out...); err != nil {
		if errors.Is(err, sample.ErrInvalid) {
			// The buffer stored the valid samples and counted the rest as
			// dropped; resending cannot make them valid, so the message is
			// acknowledged and the refusal counted on the device.
			d.reject("invalid_sample", err.Error())
			s.stats.reject(d.cfg.ID, "invalid_sample")
			return nil
		}
		d.count("sink_errors", 1)
		s.stats.reject(d.cfg.ID, "sink_error")
		return fmt.Errorf("buffer %s samples: %w", d.cfg.ID, err)
	}
	return nil
}

// availability recognises the availability conventions: Zigbee2MQTT
// <dev>/availability ("online" or {"state":"online"}), Tasmota LWT
// ("Online"/"Offline") and the locker protocol's availability topic.
func availability(d Device, rel string, payload []byte) (online, ok bool) {
	if rel != "availability" && rel != "LWT" {
		return false, false
	}
	p := strings.ToLower(strings.TrimSpace(string(payload)))
	switch {
	case p == "online" || strings.Contains(p, `"online"`):
		return true, true
	case p == "offline" || strings.Contains(p, `"offline"`):
		return false, true
	}
	return false, false
}

// checkSilence declares quiet devices offline and retries pending events.
func (s *Service) checkSilence(ctx context.Context, now time.Time) {
	var evs []sample.Sample
	for _, d := range s.devices {
		if quiet, why := d.silent(now, s.start); quiet {
			evs = append(evs, d.gone(now, why)...)
		}
	}
	s.pendingMu.Lock()
	evs = append(s.pending, evs...)
	s.pending = nil
	s.pendingMu.Unlock()
	if len(evs) == 0 {
		return
	}
	if err := s.sink.Append(ctx, evs...); err != nil {
		s.log.Warn("availability events not buffered, will retry", "n", len(evs), "err", err)
		s.pendingMu.Lock()
		s.pending = append(evs, s.pending...)
		s.pendingMu.Unlock()
	}
}

// deviceGone is called by the embedded broker when a client dropped
// without a clean DISCONNECT and had no will: its devices are not declared
// offline yet (silence will do that), but the drop is counted.
func (s *Service) clientDropped(username string) {
	for _, d := range s.byUser[username] {
		d.count("connection_lost", 1)
	}
}

// chatter reports whether topic is status traffic the ACL allows a sensor
// and no device maps: Zigbee2MQTT's <base>/bridge/# and Tasmota's
// stat/<id>/#. It is accepted and dropped, not counted as a refusal.
func (s *Service) chatter(topic string) bool {
	for _, d := range s.devices {
		var prefix string
		switch d.cfg.Preset {
		case mapping.PresetZigbee2MQTT:
			prefix = path.Dir(d.cfg.Topic) + "/bridge/"
		case mapping.PresetTasmota:
			prefix = "stat/" + path.Base(d.cfg.Topic) + "/"
		default:
			continue
		}
		if strings.HasPrefix(topic, prefix) {
			return true
		}
	}
	return false
}
