// Package ocpp is the office's local OCPP central system: chargers connect to
// it over OCPP 1.6J or 2.0.1 (chosen by WebSocket subprotocol, one listener),
// it keeps their connectors and sessions in bbolt, turns what they report
// into samples and events, and lets the rules set charging limits.
package ocpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	ocpp16 "github.com/lorenzodonini/ocpp-go/ocpp1.6"
	ocpp201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1"
	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/sample"
	bolt "go.etcd.io/bbolt"
)

// Sink receives samples; the edge's durable buffer implements it and returns
// once they are committed.
type Sink interface {
	Append(ctx context.Context, samples ...sample.Sample) error
}

// Service is the local central system.
type Service struct {
	cfg   Config
	log   *slog.Logger
	sink  Sink
	store *store
	tags  *tagList
	front *front
	stats *counters
	cs16  ocpp16.CentralSystem
	cs201 ocpp201.CSMS
	ln    net.Listener

	mu       sync.Mutex
	chargers map[string]*charger
	open     map[string]*Session // by sessionKey
	rejected map[string]rejection
}

// New validates cfg, loads persisted state from db and binds the listener, so
// Addr is valid as soon as New returns.
func New(cfg Config, db *bolt.DB, sink Sink, logger *slog.Logger) (*Service, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || sink == nil {
		return nil, errors.New("ocpp: store and sink are required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	st, err := openStore(db)
	if err != nil {
		return nil, err
	}
	chargers, open, err := st.load()
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: logger, sink: sink, store: st, tags: newTagList(cfg.Auth),
		stats: newCounters(), chargers: chargers, open: open, rejected: map[string]rejection{},
	}
	for _, c := range chargers {
		for _, cs := range c.Connectors {
			cs.Online = false
			cs.Session = nil
		}
	}
	for _, ss := range open {
		if c := s.chargers[ss.ChargerID]; c != nil {
			c.connector(ss.Connector).Session = ss
		}
	}
	s.front = newFront(&s.cfg, logger, s.stats)
	s.cs16 = s.newCentralSystem16()
	s.cs201 = s.newCSMS201()
	s.ln, err = listen(&s.cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the bound listener address.
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

// Run serves chargers until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	s.cs16.Start(0, "")
	s.cs201.Start(0, "")
	mux := http.NewServeMux()
	mux.Handle(s.cfg.Path+"/", s.front)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	errC := make(chan error, 1)
	go func() { errC <- srv.Serve(s.ln) }()
	s.log.Info("ocpp: central system listening", "addr", s.Addr().String(), "path", s.cfg.Path, "security_profile", s.cfg.SecurityProfile)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errC:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // hijacked WebSockets are not covered: closeAll is
	s.front.closeAll()
	s.cs16.Stop()
	s.cs201.Stop()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ocpp: serve: %w", err)
	}
	return nil
}

// Snapshot returns every known connector, sorted by charger and connector.
func (s *Service) Snapshot() []ConnectorState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ConnectorState
	for _, c := range s.chargers {
		for n, cs := range c.Connectors {
			if n == 0 {
				continue // connector 0 is the charger as a whole
			}
			v := *cs
			v.Version = c.Version
			v.Online = c.online
			if cs.Session != nil {
				ss := *cs.Session
				v.Session = &ss
			}
			if cs.Requested != nil {
				r := *cs.Requested
				v.Requested = &r
			}
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ChargerID != out[j].ChargerID {
			return out[i].ChargerID < out[j].ChargerID
		}
		return out[i].Connector < out[j].Connector
	})
	return out
}

// Devices reports each charger's health.
func (s *Service) Devices() []health.Device {
	s.mu.Lock()
	ids := map[string]bool{}
	for id := range s.chargers {
		ids[id] = true
	}
	for _, c := range s.cfg.Chargers {
		ids[c.ID] = true
	}
	var out []health.Device
	for id := range ids {
		d := health.Device{ID: id, Kind: "charger", Protocol: "ocpp", State: health.Offline}
		if c := s.chargers[id]; c != nil {
			d.Since, d.LastSeen = c.since, c.lastSeen
			switch {
			case c.online && c.Registered == "Accepted":
				d.State = health.OK
			case c.online:
				d.State = health.Misconfigured
				d.LastError = "boot " + c.Registered
			}
		}
		d.Counters = s.stats.snapshot(id)
		out = append(out, d)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// emit hands samples to the sink. A failure is returned so the handler can
// answer the charger with an error: the charger keeps the message and
// retries, which is how nothing gets lost when the buffer is unhappy.
func (s *Service) emit(samples ...sample.Sample) error {
	if len(samples) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sink.Append(ctx, samples...); err != nil {
		s.log.Error("ocpp: sink append failed", "err", err)
		return fmt.Errorf("buffer unavailable: %w", err)
	}
	return nil
}
