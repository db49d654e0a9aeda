package mqtt

import (
	"fmt"
	"maps"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/sample"
)

// presence of a device as availability sees it.
type presence int

const (
	unknown presence = iota // not seen since start
	online
	offline
)

// device is the live state of one configured device. Its mutex is held
// only for bookkeeping, never across I/O.
type device struct {
	cfg     Device
	mapping *mapping.Mapping // sensors only
	tags    map[string]string
	// bucket limits the device's message rate in external mode, where the
	// site broker, not the edge, owns the connections.
	bucket *rate.Limiter

	mu       sync.Mutex
	presence presence
	state    health.State
	since    time.Time
	lastSeen time.Time
	lastErr  string
	counters map[string]uint64
	alarms   map[string]bool // last value of alarm fields, for transition events
}

func newDevice(cfg Device, start time.Time) (*device, error) {
	d := &device{cfg: cfg, state: health.Offline, since: start, lastErr: "not seen since start",
		counters: map[string]uint64{}, alarms: map[string]bool{}}
	d.tags = map[string]string{sample.TagDevice: cfg.ID}
	maps.Copy(d.tags, cfg.Tags)
	if cfg.Room != "" {
		d.tags["room"] = cfg.Room
	}
	if cfg.Kind != KindSensor {
		return d, nil
	}
	rules := cfg.Mapping
	if cfg.Preset != "" {
		var err error
		if rules, err = mapping.Preset(cfg.Preset); err != nil {
			return nil, err
		}
	}
	m, err := mapping.Compile(rules)
	if err != nil {
		return nil, fmt.Errorf("device %s mapping%w", cfg.ID, err)
	}
	d.mapping = m
	return d, nil
}

func (d *device) count(name string, n uint64) {
	d.mu.Lock()
	d.counters[name] += n
	d.mu.Unlock()
}

// reject counts a refusal and remembers it as the device's last error.
func (d *device) reject(reason, detail string) {
	d.mu.Lock()
	d.counters["rejected_"+reason]++
	d.lastErr = reason + ": " + detail
	d.mu.Unlock()
}

// seen records traffic; it returns an event if the device came back.
func (d *device) seen(now time.Time, healthy bool) []sample.Sample {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastSeen = now
	st := health.OK
	if !healthy {
		st = health.Stale
	}
	if st != d.state {
		d.state, d.since = st, now
	}
	if healthy {
		d.lastErr = ""
	}
	was := d.presence
	d.presence = online
	if was == offline {
		return []sample.Sample{sample.Event(d.cfg.ID, "device_online", sample.SeverityInfo,
			d.cfg.ID+" is sending again", now, map[string]any{"protocol": "mqtt"})}
	}
	return nil
}

// gone marks the device offline (last will, availability message or
// silence) and returns the event, once per transition.
func (d *device) gone(now time.Time, why string) []sample.Sample {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.presence == offline {
		return nil
	}
	d.presence, d.state, d.since, d.lastErr = offline, health.Offline, now, why
	d.counters["went_offline"]++
	return []sample.Sample{sample.Event(d.cfg.ID, "device_offline", sample.SeverityWarning,
		d.cfg.ID+" offline: "+why, now, map[string]any{"protocol": "mqtt"})}
}

// silentSince reports whether the device has been quiet past its limit.
func (d *device) silent(now, start time.Time) (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	last := d.lastSeen
	if last.IsZero() {
		last = start
	}
	if d.presence != offline && now.Sub(last) >= d.cfg.OfflineAfter {
		return true, fmt.Sprintf("silent for %s", now.Sub(last).Round(time.Second))
	}
	return false, ""
}

// alarmTransitions turns changes of alarm fields into events.
var alarmKinds = map[string][2]string{
	"leak":   {"water_leak", "water leak detected"},
	"smoke":  {"smoke_alarm", "smoke detected"},
	"tamper": {"sensor_tamper", "sensor tampered with"},
}

func (d *device) alarmEvents(samples []sample.Sample, now time.Time) []sample.Sample {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []sample.Sample
	for _, s := range samples {
		for field, kind := range alarmKinds {
			v, ok := s.Fields[field].(bool)
			if !ok || d.alarms[field] == v {
				continue
			}
			prev, known := d.alarms[field]
			d.alarms[field] = v
			switch {
			case v:
				out = append(out, sample.Event(d.cfg.ID, kind[0], sample.SeverityCritical, d.cfg.ID+": "+kind[1], now, nil))
			case known && prev:
				out = append(out, sample.Event(d.cfg.ID, kind[0]+"_cleared", sample.SeverityInfo, d.cfg.ID+": "+kind[1]+" cleared", now, nil))
			}
		}
	}
	return out
}

func (d *device) health() health.Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	return health.Device{ID: d.cfg.ID, Kind: d.cfg.Kind, Protocol: "mqtt", State: d.state, Since: d.since,
		LastSeen: d.lastSeen, LastError: d.lastErr, Counters: maps.Clone(d.counters)}
}
