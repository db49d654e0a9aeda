package edge

import (
	"context"
	"runtime"
	"sort"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/sample"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// MeasurementEdge is the edge's report about itself (docs/influxdb-schema.md).
const MeasurementEdge = "polis_edge"

// selfTelemetry appends a polis_edge sample every interval, so the fleet sees
// buffer depth, drops and uplink state through the same path as device data.
func (d *Daemon) selfTelemetry(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Telemetry.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := d.sink.Append(ctx, d.selfSample(now)); err != nil && ctx.Err() == nil {
				d.log.Warn("self telemetry", "err", err)
			}
		}
	}
}

func (d *Daemon) selfSample(now time.Time) sample.Sample {
	st := d.buf.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f := map[string]any{
		"buffer_samples":   st.Count,
		"buffer_bytes":     st.Bytes,
		"oldest_age_s":     oldestAge(st.OldestTime, now).Seconds(),
		"uptime_s":         now.Sub(d.started).Seconds(),
		"version":          d.version,
		"heap_bytes":       int64(ms.HeapAlloc),
		"sys_bytes":        int64(ms.Sys),
		"goroutines":       int64(runtime.NumGoroutine()),
		"uplink_connected": false,
	}
	var dropped uint64
	for reason, n := range st.Dropped {
		f["dropped_"+reason] = int64(n)
		dropped += n
	}
	f["dropped_total"] = int64(dropped)
	if d.up != nil {
		us := d.up.Stats()
		f["uplink_connected"] = us.Connected
		f["batches_sent"] = int64(us.BatchesSent)
		f["batches_acked"] = int64(us.BatchesAcked)
		f["batches_resent"] = int64(us.BatchesResent)
	}
	return sample.Sample{Measurement: MeasurementEdge, Tags: map[string]string{sample.TagDevice: "edge"}, Fields: f, Time: now}
}

func oldestAge(oldest, now time.Time) time.Duration {
	if oldest.IsZero() || oldest.After(now) {
		return 0
	}
	return now.Sub(oldest)
}

// devices lists every driver's devices, sorted by id.
func (d *Daemon) devices() []health.Device {
	var out []health.Device
	for _, drv := range d.drivers {
		out = append(out, drv.Devices()...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// statusMessage is the retained status the uplink publishes.
func (d *Daemon) statusMessage() wire.Status {
	st := d.buf.Stats()
	devs := map[string]string{}
	for _, dev := range d.devices() {
		devs[dev.ID] = string(dev.State)
	}
	return wire.Status{
		Office: d.cfg.Office.ID, Version: d.version, Started: d.started.UTC(),
		Backlog: st.Count, Dropped: st.Dropped, Devices: devs, ConfigVersion: d.RemoteVersion(),
	}
}
