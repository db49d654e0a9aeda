package edge

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/edge/uplink"
	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/promtext"
)

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", d.handleReady)
	mux.HandleFunc("GET /metrics", d.handleMetrics)
	mux.HandleFunc("GET /api/v1/status", d.handleStatus)
	mux.HandleFunc("GET /api/v1/audit", d.operatorOnly("viewer", d.handleAudit))
	d.rulesRoutes(mux)
	d.remoteRoutes(mux)
	d.ocppRoutes(mux)
	if d.cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	return mux
}

// handleReady: ready once every service started. A disconnected uplink does
// not make the office unready: buffering through an outage is its job.
// A driver that failed and waits for its restart makes it unready.
func (d *Daemon) handleReady(w http.ResponseWriter, _ *http.Request) {
	if why := d.notReady(); why != "" {
		http.Error(w, why, http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// Status is the JSON of /api/v1/status.
type Status struct {
	Office     string          `json:"office"`
	Name       string          `json:"name,omitempty"`
	Version    string          `json:"version"`
	Started    time.Time       `json:"started"`
	UptimeS    float64         `json:"uptime_s"`
	Buffer     buffer.Stats    `json:"buffer"`
	OldestAgeS float64         `json:"oldest_unsent_age_s"`
	Uplink     *uplink.Stats   `json:"uplink,omitempty"`
	Devices    []health.Device `json:"devices"`
	Drivers    []DriverStatus  `json:"drivers"`
	// ClockUnset: the edge's clock is before 2000 (no RTC, NTP not yet
	// synchronised); HeldForClock samples wait to be stamped (clock.go).
	ClockUnset     bool     `json:"clock_unset,omitempty"`
	HeldForClock   int      `json:"held_for_clock,omitempty"`
	RestartPending []string `json:"restart_pending,omitempty"`
	// RemoteConfig: the fleet's config in force, when there is one.
	RemoteConfig *RemoteConfigState `json:"remote_config,omitempty"`
}

func (d *Daemon) status() Status {
	now := time.Now()
	st := Status{
		Office: d.cfg.Office.ID, Name: d.cfg.Office.Name, Version: d.version, Started: d.started,
		UptimeS: now.Sub(d.started).Seconds(), Buffer: d.buf.Stats(), Devices: d.devices(),
		Drivers:    d.driverStatus(),
		ClockUnset: !clockSane(now), HeldForClock: d.sink.hold.pending(),
	}
	st.OldestAgeS = oldestAge(st.Buffer.OldestTime, now).Seconds()
	if d.up != nil {
		us := d.up.Stats()
		st.Uplink = &us
	}
	if st.Devices == nil {
		st.Devices = []health.Device{}
	}
	d.mu.Lock()
	st.RestartPending = d.pending
	d.mu.Unlock()
	if rs := d.remoteState(); rs.Running != 0 || rs.Rollback != "" {
		st.RemoteConfig = &rs
	}
	return st
}

func (d *Daemon) handleStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(d.status())
}

func (d *Daemon) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", promtext.ContentType)
	st := d.status()
	m := promtext.New(w)
	m.Gauge("polis_edge_up", "1 while the daemon runs.", 1, "office", st.Office, "version", st.Version)
	m.Gauge("polis_edge_uptime_seconds", "Seconds since start.", st.UptimeS)
	m.Gauge("polis_edge_buffer_samples", "Samples waiting in the buffer.", float64(st.Buffer.Count))
	m.Gauge("polis_edge_buffer_bytes", "Bytes of samples in the buffer.", float64(st.Buffer.Bytes))
	m.Gauge("polis_edge_buffer_max_bytes", "Configured buffer bound.", float64(st.Buffer.MaxBytes))
	m.Gauge("polis_edge_buffer_oldest_age_seconds", "Age of the oldest unsent sample.", st.OldestAgeS)
	m.Counter("polis_edge_buffer_appended_total", "Samples appended.", float64(st.Buffer.Appended))
	m.Counter("polis_edge_buffer_commits_total", "Buffer group commits.", float64(st.Buffer.Commits))
	for reason, n := range st.Buffer.Dropped {
		m.Counter("polis_edge_dropped_samples_total", "Samples dropped, by reason.", float64(n), "reason", reason)
	}
	if u := st.Uplink; u != nil {
		m.Gauge("polis_edge_uplink_connected", "1 while connected to the fleet.", b2f(u.Connected))
		m.Counter("polis_edge_uplink_batches_sent_total", "Batches published.", float64(u.BatchesSent))
		m.Counter("polis_edge_uplink_batches_acked_total", "Batches acknowledged.", float64(u.BatchesAcked))
		m.Counter("polis_edge_uplink_batches_resent_total", "Batches resent.", float64(u.BatchesResent))
		m.Counter("polis_edge_uplink_samples_acked_total", "Samples the fleet stored.", float64(u.SamplesAcked))
		m.Gauge("polis_edge_uplink_in_flight", "Batches awaiting ack.", float64(u.InFlight))
		m.Counter("polis_edge_uplink_acks_dropped_total", "Acks dropped because the sender was busy (their batches are resent).", float64(u.AcksDropped))
	}
	for _, dev := range st.Devices {
		m.Gauge("polis_edge_device_ok", "1 when the device is healthy.", b2f(dev.State == health.OK),
			"device", dev.ID, "protocol", dev.Protocol, "state", string(dev.State))
		for k, v := range dev.Counters {
			m.Counter("polis_edge_device_events_total", "Per-device counters (polls, errors, rejections).", float64(v),
				"device", dev.ID, "counter", k)
		}
	}
	for _, drv := range st.Drivers {
		m.Gauge("polis_edge_driver_up", "1 while the driver runs, 0 while it waits for a restart.", b2f(drv.State == DriverRunning), "driver", drv.Name)
		m.Counter("polis_edge_driver_restarts_total", "Restarts after a failure.", float64(drv.Restarts), "driver", drv.Name)
	}
	d.aggregateMetrics(m)
	for _, drv := range d.drivers {
		if mw, ok := drv.(metricsWriter); ok {
			mw.Metrics(m)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.Gauge("polis_edge_go_heap_bytes", "Go heap in use.", float64(ms.HeapAlloc))
	m.Gauge("polis_edge_go_sys_bytes", "Memory obtained from the OS by Go.", float64(ms.Sys))
	m.Gauge("polis_edge_goroutines", "Goroutines.", float64(runtime.NumGoroutine()))
	if err := m.Flush(); err != nil {
		d.log.Error("metrics page", "err", err)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
