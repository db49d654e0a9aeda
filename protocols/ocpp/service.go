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
	"strings"
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
	ln    net.Listener    // the main one, lns[0]
	lns   []boundListener // Listen first, then Listeners

	// mu guards only the map; each charger's state belongs to its owner
	// goroutine (charger.go).
	mu       sync.Mutex
	chargers map[string]*charger

	rejMu    sync.Mutex
	rejected map[string]rejection // limits a charger rejected, by charger/connector

	reports reportWaits // GetChargingProfiles waiting for their ReportChargingProfiles
	// dirtyProfiles: chargers whose installed-profile list awaits a write.
	dirtyProfiles sync.Map

	quit     chan struct{} // closed when Run ends
	quitOnce sync.Once
}

// New validates cfg, loads persisted state from db and binds the listener, so
// Addr is valid as soon as New returns.
func New(cfg Config, db *bolt.DB, sink Sink, logger *slog.Logger) (*Service, error) {
	cfg.ApplyDefaults()
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
	chargers, err := st.load()
	if err != nil {
		return nil, err
	}
	tags, err := newTagList(cfg.Auth, db)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: logger, sink: sink, store: st, tags: tags,
		stats: newCounters(), chargers: chargers,
		rejected: map[string]rejection{}, quit: make(chan struct{}),
	}
	// Report request ids start from the clock so a late report for a
	// request of the previous run does not land in a new one's answer.
	s.reports.nextReq.Store(time.Now().Unix() % 1_000_000 * 1000)
	for _, c := range chargers {
		for _, cs := range c.Connectors {
			cs.Online = false
			cs.Session = nil
			s.forgetFutureTimes(c.ID, cs)
		}
		for _, ss := range c.open {
			c.connector(ss.Connector).Session = ss
		}
		c.publish()
	}
	if cfg.profiles()[0] {
		logger.Warn("ocpp: SECURITY PROFILE 0: chargers connect WITHOUT AUTHENTICATION; anyone who knows a charger id can take its place",
			"listen", cfg.Listen, "force_insecure", cfg.ForceInsecure)
	}
	s.front = newFront(&s.cfg, logger, s.stats)
	if s.front.passwords, err = loadPasswords(db); err != nil {
		return nil, err
	}
	s.cs16 = s.newCentralSystem16()
	s.cs201 = s.newCSMS201()
	for _, l := range s.cfg.listeners() {
		ln, err := listen(&s.cfg, l, logger)
		if err != nil {
			for _, b := range s.lns {
				b.ln.Close()
			}
			return nil, err
		}
		s.lns = append(s.lns, boundListener{ln: ln, profile: l.SecurityProfile})
	}
	s.ln = s.lns[0].ln
	return s, nil
}

// boundListener is one listener and the security profile it serves.
type boundListener struct {
	ln      net.Listener
	profile int
}

// Addr is the main listener's address (Listen).
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

// AddrOf is the address of the first listener serving profile, nil if none.
func (s *Service) AddrOf(profile int) net.Addr {
	for _, b := range s.lns {
		if b.profile == profile {
			return b.ln.Addr()
		}
	}
	return nil
}

// Run serves chargers until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	defer s.quitOnce.Do(func() { close(s.quit) })
	octx, stopOutbox := context.WithCancel(context.Background())
	outboxDone := make(chan struct{})
	go func() { s.runOutbox(octx); close(outboxDone) }()
	defer func() { stopOutbox(); <-outboxDone }()
	s.cs16.Start(0, "")
	s.cs201.Start(0, "")
	errC := make(chan error, len(s.lns))
	var srvs []*http.Server
	for _, b := range s.lns {
		mux := http.NewServeMux()
		mux.Handle(s.cfg.Path+"/", profileFront{f: s.front, profile: b.profile})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		srvs = append(srvs, srv)
		go func() { errC <- srv.Serve(b.ln) }()
		s.log.Info("ocpp: central system listening", "addr", b.ln.Addr().String(), "path", s.cfg.Path, "security_profile", b.profile)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errC:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range srvs {
		_ = srv.Shutdown(sctx) // hijacked WebSockets are not covered: closeAll is
	}
	s.front.closeAll()
	s.flushProfiles() // the owners still run: quit closes last
	s.cs16.Stop()
	s.cs201.Stop()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ocpp: serve: %w", err)
	}
	return nil
}

// Snapshot returns every known connector, sorted by charger and connector.
// It reads what each charger's owner published and never waits for I/O.
func (s *Service) Snapshot() []ConnectorState {
	var out []ConnectorState
	for _, v := range s.views() {
		for _, cs := range v.connectors {
			if cs.Connector == 0 {
				continue // connector 0 is the charger as a whole
			}
			cs.Version = v.version
			cs.Online = v.online
			out = append(out, cs)
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

func (s *Service) views() []*chargerView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*chargerView, 0, len(s.chargers))
	for _, c := range s.chargers {
		out = append(out, c.view.Load())
	}
	return out
}

// Refusals counts connections refused before authentication, by reason
// (unknown_charger, bad_credentials, no_client_certificate,
// certificate_cn_mismatch, subprotocol).
func (s *Service) Refusals() map[string]uint64 { return s.stats.refusals() }

// Devices reports each charger's health.
func (s *Service) Devices() []health.Device {
	byID := map[string]*chargerView{}
	for _, v := range s.views() {
		byID[v.id] = v
	}
	for _, c := range s.cfg.Chargers {
		if byID[c.ID] == nil {
			byID[c.ID] = nil
		}
	}
	var out []health.Device
	for id, v := range byID {
		d := health.Device{ID: id, Kind: "charger", Protocol: "ocpp", State: health.Offline}
		if v != nil {
			d.Since, d.LastSeen = v.since, s.stats.lastSeen(id)
			switch {
			case v.online && v.registered == "Accepted" && len(v.problems) > 0:
				d.State = health.OK
				d.LastError = "problem: " + strings.Join(v.problems, "; ")
			case v.online && v.registered == "Accepted":
				d.State = health.OK
			case v.online:
				d.State = health.Misconfigured
				d.LastError = "boot " + v.registered
			}
		}
		d.Counters = s.stats.snapshot(id)
		out = append(out, d)
	}
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
