// Package fleetsim simulates thousands of offices in one process, each a real
// MQTT connection with its own credentials speaking the real uplink protocol
// (protocols/uplink): a retained status with a last will, zstd batches named by
// sequence numbers, acks, back-off on `retry`, resend on ack timeout, and a
// backlog that builds while the fleet is away and drains when it returns.
//
// It is what `polis-sim fleet` runs and what the fleet's scale benchmarks and
// tests drive: a fleet that keeps up with it keeps up with 7,000 polis-edges
// without running 7,000 edge daemons on one machine.
package fleetsim

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config says how many offices to simulate and how they behave.
type Config struct {
	Broker      string // tcp://host:port of the fleet's MQTT listener; comma-separated for a cluster
	Offices     int    // how many offices
	FirstOffice int    // office ids are 5-digit numbers from here (default 10000)
	Password    func(office string) string
	Mix         Mix           // what each office measures (default ReferenceMix)
	Flush       time.Duration // how often an office sends what it measured (default 1s, the edge's uplink.live_interval)
	MaxBatch    int           // lines per batch at most (default 5000, the edge's default)
	Window      int           // batches in flight per office (default 8)
	AckTimeout  time.Duration // resend a batch not acked by then (default 30s)
	ConnectRate int           // new connections per second across the fleet (default 500)
	// QoS0 sends batches and subscribes to acks at QoS 0, as edges with
	// uplink.qos 0 do on a NATS cluster (docs/deployment.md).
	QoS0 bool
	Log  *slog.Logger
}

func (c *Config) defaults() {
	if c.FirstOffice == 0 {
		c.FirstOffice = 10000
	}
	if c.Password == nil {
		c.Password = func(string) string { return "sim" }
	}
	if c.Mix.isZero() {
		c.Mix = ReferenceMix
	}
	if c.Flush <= 0 {
		c.Flush = time.Second
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 5000
	}
	if c.Window <= 0 {
		c.Window = 8
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.ConnectRate <= 0 {
		c.ConnectRate = 500
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// OfficeID is the id of the i-th simulated office.
func (c Config) OfficeID(i int) string {
	first := c.FirstOffice
	if first == 0 {
		first = 10000
	}
	return fmt.Sprintf("%05d", first+i)
}

// Sim is a running fleet of simulated offices.
type Sim struct {
	cfg     Config
	offices []*office
	stats   counters
	wg      sync.WaitGroup
}

// counters are shared by all offices; atomics keep the hot path lock-free.
type counters struct {
	connected atomic.Int64
	connects  atomic.Int64
	failed    atomic.Int64           // connect attempts that failed
	lastFail  atomic.Pointer[string] // the latest of their errors
	lost      atomic.Int64
	measured  atomic.Int64 // lines generated
	unbatched atomic.Int64 // measured, not yet cut into a batch
	sent      atomic.Int64 // batches published (first sends and resends)
	resent    atomic.Int64
	acked     atomic.Int64 // lines acked ok
	retries   atomic.Int64 // batches answered retry
	rejected  atomic.Int64 // lines the fleet rejected
	latencies latencies    // first send → ok ack, per batch
}

// Start connects every office (at ConnectRate) and starts measuring. It
// returns at once; Wait or Report follow the run.
func Start(ctx context.Context, cfg Config) *Sim {
	cfg.defaults()
	s := &Sim{cfg: cfg}
	gap := time.Second / time.Duration(cfg.ConnectRate)
	for i := range cfg.Offices {
		o := newOffice(s, cfg.OfficeID(i), i)
		s.offices = append(s.offices, o)
	}
	s.wg.Add(len(s.offices))
	go func() {
		for _, o := range s.offices {
			go func() { defer s.wg.Done(); o.run(ctx) }()
			select {
			case <-ctx.Done():
			case <-time.After(gap):
			}
		}
	}()
	return s
}

// Wait returns once every office stopped (its context ended).
func (s *Sim) Wait() { s.wg.Wait() }

// Report is what a run sent, what the fleet acknowledged and how fast.
type Report struct {
	Offices    int           `json:"offices"`
	Connected  int64         `json:"connected"`
	Connects   int64         `json:"connects"`       // successful connects, reconnects included
	Failed     int64         `json:"connect_failed"` // connect attempts refused or timed out
	LastFail   string        `json:"last_connect_error,omitempty"`
	Lost       int64         `json:"lost"`            // connections lost
	Measured   int64         `json:"lines_measured"`  // lines generated
	Acked      int64         `json:"lines_acked"`     // lines acked ok
	Rejected   int64         `json:"lines_rejected"`  // lines the fleet refused for good
	Pending    int64         `json:"lines_pending"`   // measured, not yet acked
	Unbatched  int64         `json:"lines_unbatched"` // measured, not yet cut into a batch
	Batches    int64         `json:"batches_sent"`
	Resent     int64         `json:"batches_resent"`
	Retries    int64         `json:"batches_retry"`
	AckedCount int           `json:"batches_acked"`
	P50        time.Duration `json:"ack_p50"`
	P99        time.Duration `json:"ack_p99"`
	Max        time.Duration `json:"ack_max"`
}

// Report summarises the run so far.
func (s *Sim) Report() Report {
	r := Report{
		Offices: len(s.offices), Connected: s.stats.connected.Load(), Connects: s.stats.connects.Load(),
		Failed: s.stats.failed.Load(), Lost: s.stats.lost.Load(), Measured: s.stats.measured.Load(), Acked: s.stats.acked.Load(),
		Rejected: s.stats.rejected.Load(), Batches: s.stats.sent.Load(), Resent: s.stats.resent.Load(),
		Retries: s.stats.retries.Load(), Unbatched: s.stats.unbatched.Load(),
	}
	if e := s.stats.lastFail.Load(); e != nil {
		r.LastFail = *e
	}
	r.Pending = r.Measured - r.Acked - r.Rejected
	var n int64
	n, r.P50, r.P99, r.Max = s.stats.latencies.summary()
	r.AckedCount = int(n)
	return r
}

// ResetLatencies forgets the ack latencies so far (after a warm-up or before a
// fault), so Report's percentiles cover only what follows.
func (s *Sim) ResetLatencies() { s.stats.latencies.reset() }

// Pause stops every office measuring (they keep sending what they hold), so a
// test can wait for the fleet to drain everything and compare counts exactly.
// An office paused while away from the fleet (or held) cuts its backlog into
// batches at its next tick (Report.Unbatched reaches 0).
func (s *Sim) Pause() {
	for _, o := range s.offices {
		o.paused.Store(true)
	}
}

// Resume starts every office measuring again after Pause; what it measures
// starts from now (the paused time is not made up).
func (s *Sim) Resume() {
	for _, o := range s.offices {
		o.resume.Store(true)
		o.paused.Store(false)
	}
}

// Hold stops every office sending while it stays connected and keeps
// measuring, so a backlog builds at offices the fleet still holds (as while
// InfluxDB is away and the fleet answers retry). With Pause after it, each
// office cuts its backlog into batches; Release then sends them all at
// once: a drain of pure ingest, without the reconnect storm of a fleet
// restart.
func (s *Sim) Hold() {
	for _, o := range s.offices {
		o.held.Store(true)
	}
}

// Release lets every held office send again, at once rather than at its
// next tick.
func (s *Sim) Release() {
	for _, o := range s.offices {
		o.held.Store(false)
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
}

func (c *counters) latency(d time.Duration) { c.latencies.add(d) }
