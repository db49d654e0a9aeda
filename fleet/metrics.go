package fleet

import (
	"io"
	"maps"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polis-edge/polis/fleet/broker"
	"github.com/polis-edge/polis/fleet/ingest"
	"github.com/polis-edge/polis/protocols/promtext"
	"github.com/polis-edge/polis/protocols/uplink"
)

// metrics are the fleet's own counters, exposed on /metrics, /api/v1/status
// and written to InfluxDB as polis_fleet.
type metrics struct {
	batchesOK, batchesRejected, batchesRetry atomic.Uint64
	samplesAccepted                          atomic.Uint64
	influxErrors, influxRejects              atomic.Uint64
	writeNanos, writes                       atomic.Uint64
	dropped                                  atomic.Uint64 // messages on topics that are not Polis topics

	mu       sync.Mutex
	rejected map[string]uint64 // samples (or whole batches) by reason

	// Offices whose last batch had samples stamped too far ahead of the
	// fleet's clock, with by how much: "which office's clock is off".
	skewMu  sync.Mutex
	skewed  map[string]time.Duration
	nSkewed atomic.Int64
}

func newMetrics() *metrics {
	return &metrics{rejected: map[string]uint64{}, skewed: map[string]time.Duration{}}
}

// recordClock keeps an office in the skewed list while its batches carry
// samples from the future, and drops it with its first clean batch.
func (m *metrics) recordClock(r ingest.Result) {
	if r.ClockAhead == 0 && m.nSkewed.Load() == 0 || r.Ack.Status == uplink.AckRetry {
		return
	}
	m.skewMu.Lock()
	defer m.skewMu.Unlock()
	if r.ClockAhead > 0 {
		m.skewed[r.Office] = r.ClockAhead
	} else {
		delete(m.skewed, r.Office)
	}
	m.nSkewed.Store(int64(len(m.skewed)))
}

// clockAhead returns the skewed offices and how far ahead, in seconds.
func (m *metrics) clockAhead() map[string]float64 {
	m.skewMu.Lock()
	defer m.skewMu.Unlock()
	out := make(map[string]float64, len(m.skewed))
	for o, d := range m.skewed {
		out[o] = d.Seconds()
	}
	return out
}

func (m *metrics) record(r ingest.Result) {
	m.recordClock(r)
	switch r.Ack.Status {
	case uplink.AckOK:
		m.batchesOK.Add(1)
	case uplink.AckRejected:
		m.batchesRejected.Add(1)
	case uplink.AckRetry:
		m.batchesRetry.Add(1)
		m.influxErrors.Add(1)
	}
	m.samplesAccepted.Add(uint64(r.Ack.Accepted))
	if r.Write > 0 {
		m.writes.Add(1)
		m.writeNanos.Add(uint64(r.Write))
	}
	if r.Ack.Reasons[ingest.ReasonInfluxRejected] > 0 {
		m.influxRejects.Add(1)
	}
	if len(r.Ack.Reasons) > 0 {
		m.mu.Lock()
		for k, n := range r.Ack.Reasons {
			m.rejected[k] += uint64(n)
		}
		m.mu.Unlock()
	}
}

func (m *metrics) rejectedByReason() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.rejected)
}

func (m *metrics) samplesRejected() uint64 {
	var n uint64
	for _, v := range m.rejectedByReason() {
		n += v
	}
	return n
}

// WriteMetrics writes the Prometheus text page.
func (f *Fleet) WriteMetrics(w io.Writer) error {
	m := f.metrics
	p := promtext.New(w)
	for _, s := range []struct {
		status string
		v      uint64
	}{{uplink.AckOK, m.batchesOK.Load()}, {uplink.AckRejected, m.batchesRejected.Load()}, {uplink.AckRetry, m.batchesRetry.Load()}} {
		p.Counter("polis_fleet_batches_total", "Telemetry batches processed, by ack status.", float64(s.v), "status", s.status)
	}
	p.Counter("polis_fleet_samples_total", "Samples by result and reason.", float64(m.samplesAccepted.Load()), "result", "accepted", "reason", "")
	rej := m.rejectedByReason()
	reasons := make([]string, 0, len(rej))
	for k := range rej {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		p.Counter("polis_fleet_samples_total", "Samples by result and reason.", float64(rej[k]), "result", "rejected", "reason", k)
	}
	p.Counter("polis_fleet_influx_write_seconds_sum", "Time spent in InfluxDB writes.", time.Duration(m.writeNanos.Load()).Seconds())
	p.Counter("polis_fleet_influx_write_seconds_count", "InfluxDB writes.", float64(m.writes.Load()))
	p.Counter("polis_fleet_influx_errors_total", "InfluxDB writes that failed and were answered retry.", float64(m.influxErrors.Load()))
	p.Counter("polis_fleet_influx_rejected_batches_total", "Batches InfluxDB refused (part of) as bad data.", float64(m.influxRejects.Load()))
	p.Counter("polis_fleet_foreign_messages_total", "Messages on topics that are not valid Polis topics.", float64(m.dropped.Load()))
	if f.embedded != nil {
		for _, reason := range []string{broker.ThrottleRate, broker.ThrottleTooLarge, broker.ThrottleReconnect} {
			p.Counter("polis_fleet_throttled_total", "Office messages or connects refused by broker.embedded.office_limits.",
				float64(f.embedded.Throttled()[reason]), "reason", reason)
		}
	}
	skew := m.clockAhead()
	offices := make([]string, 0, len(skew))
	for o := range skew {
		offices = append(offices, o)
	}
	sort.Strings(offices)
	for _, o := range offices {
		p.Gauge("polis_fleet_office_clock_ahead_seconds", "How far ahead of the fleet's clock an office stamps its samples (only offices beyond ingest.clock_tolerance; their samples are refused as clock_ahead).", skew[o], "office", o)
	}
	p.Gauge("polis_fleet_ingest_queue", "Batches waiting for a worker.", float64(len(f.queue)))
	c := f.reg.Counts()
	p.Gauge("polis_fleet_offices", "Offices known.", float64(c.Offices))
	p.Gauge("polis_fleet_offices_online", "Offices whose retained status says online.", float64(c.Online))
	p.Gauge("polis_fleet_open_alarms", "Open alarms across offices.", float64(c.OpenAlarms))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.Gauge("go_memstats_heap_alloc_bytes", "Heap bytes allocated and in use.", float64(ms.HeapAlloc))
	p.Gauge("go_memstats_sys_bytes", "Bytes obtained from the OS.", float64(ms.Sys))
	p.Gauge("go_goroutines", "Goroutines.", float64(runtime.NumGoroutine()))
	return p.Flush()
}
