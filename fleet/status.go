package fleet

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/polis-edge/polis/fleet/registry"
)

// Status is the fleet's self-status (/api/v1/status).
type Status struct {
	Instance        string            `json:"instance"`
	Version         string            `json:"version"`
	Started         time.Time         `json:"started"`
	UptimeSeconds   float64           `json:"uptime_seconds"`
	BrokerMode      string            `json:"broker_mode"`
	BrokerReady     bool              `json:"broker_ready"`
	InfluxURL       string            `json:"influx_url"`
	InfluxUp        bool              `json:"influx_up"` // last write succeeded
	Workers         int               `json:"workers"`
	Queue           int               `json:"queue"`
	Offices         registry.Counts   `json:"offices"`
	BatchesOK       uint64            `json:"batches_ok"`
	BatchesRejected uint64            `json:"batches_rejected"`
	BatchesRetry    uint64            `json:"batches_retry"`
	SamplesAccepted uint64            `json:"samples_accepted"`
	SamplesRejected map[string]uint64 `json:"samples_rejected"`
	HeapBytes       uint64            `json:"heap_bytes"`
	// HTTPErrors counts error answers of the HTTP API by code (bad input, refusals).
	HTTPErrors map[string]uint64 `json:"http_errors"`
	// Webhooks counts alarm notifications: sent, failed after retries, dropped (queue full).
	Webhooks map[string]uint64 `json:"webhooks"`
	// StateFile is the fleet's own store (users, alarms, audit); back it up with GET /api/v1/backup.
	StateFile string `json:"state_file"`
	// ClockAhead lists offices whose clocks are ahead of the fleet's beyond
	// ingest.clock_tolerance, in seconds; their future samples are refused.
	ClockAhead map[string]float64 `json:"clock_ahead_offices"`
}

// Status returns the self-status.
func (f *Fleet) Status() Status {
	m := f.metrics
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Status{
		Instance: f.cfg.Instance, Version: Version, Started: f.started,
		UptimeSeconds: time.Since(f.started).Seconds(),
		BrokerMode:    f.cfg.Broker.Mode, BrokerReady: f.bus.Ready() == nil,
		InfluxURL: f.cfg.Influx.URL, InfluxUp: !f.influxUp.down.Load(),
		Workers: f.cfg.Ingest.Workers, Queue: len(f.queue), Offices: f.reg.Counts(),
		BatchesOK: m.batchesOK.Load(), BatchesRejected: m.batchesRejected.Load(), BatchesRetry: m.batchesRetry.Load(),
		SamplesAccepted: m.samplesAccepted.Load(), SamplesRejected: m.rejectedByReason(), ClockAhead: m.clockAhead(),
		HeapBytes: ms.HeapAlloc, HTTPErrors: f.api.ErrorCounts(), StateFile: f.StatePath(),
		Webhooks: map[string]uint64{"sent": f.webhooks.Sent.Load(), "failed": f.webhooks.Failed.Load(), "dropped": f.webhooks.Dropped.Load()},
	}
}

// Ready is nil when the broker is up and InfluxDB answers.
func (f *Fleet) Ready(ctx context.Context) error {
	var errs []error
	if err := f.bus.Ready(); err != nil {
		errs = append(errs, err)
	}
	if err := f.influx.Ping(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (f *Fleet) Offices(flt registry.Filter) []registry.Office { return f.reg.Offices(flt) }
func (f *Fleet) Office(id string) (registry.Office, bool)      { return f.reg.Office(id) }

// telemetry writes the fleet's own polis_fleet point every interval.
func (f *Fleet) telemetry(ctx context.Context) {
	t := time.NewTicker(f.cfg.TelemetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := f.influx.Write(ctx, []byte(f.selfLine(now))); err != nil {
				f.log.Debug("write polis_fleet telemetry", "err", err)
			}
		}
	}
}

func (f *Fleet) selfLine(now time.Time) string {
	m := f.metrics
	c := f.reg.Counts()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	reqs, reqTime := f.influx.Requests()
	inst := strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`).Replace(f.cfg.Instance)
	return fmt.Sprintf("polis_fleet,instance=%s batches_ok=%di,batches_rejected=%di,batches_retry=%di,"+
		"samples_accepted=%di,samples_rejected=%di,influx_errors=%di,offices=%di,offices_online=%di,"+
		"open_alarms=%di,queue=%di,heap_bytes=%di,influx_requests=%di,influx_request_s=%g %d",
		inst, m.batchesOK.Load(), m.batchesRejected.Load(), m.batchesRetry.Load(),
		m.samplesAccepted.Load(), m.samplesRejected(), m.influxErrors.Load(), c.Offices, c.Online,
		c.OpenAlarms, len(f.queue), ms.HeapAlloc, reqs, reqTime.Seconds(), now.UnixNano())
}

// StatusJSON is Status for the HTTP API.
func (f *Fleet) StatusJSON() any { return f.Status() }
