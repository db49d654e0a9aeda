// Package image is the office's process image: the latest value of every
// field every driver reported, with the time it was measured, plus the
// chargers' connector state and the devices' health. Drivers refresh it as a
// side effect of appending samples; the rules cycle reads one consistent
// Snapshot per cycle, as OpenEMS does, and never goes through the buffer.
package image

import (
	"strconv"
	"sync"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// FutureTolerance is how far ahead of the edge's clock a device time may be
// and still be trusted (SHARED-APIS #5): a reading from the future would look
// fresh forever and hide a dead meter.
const FutureTolerance = 5 * time.Minute

// Value is one field's latest reading.
type Value struct {
	V  any       `json:"v"`
	At time.Time `json:"at"`
}

// Charger is one connector (1.6) or EVSE (2.0.1) as the rules see it. The
// edge fills it from the OCPP service; rules never import a protocol package.
type Charger struct {
	ChargerID string     `json:"charger_id"`
	Connector int        `json:"connector"`
	Online    bool       `json:"online"`
	Status    string     `json:"status"`
	PowerW    float64    `json:"power_w"`
	CurrentA  [3]float64 `json:"current_a"`
	OfferedA  float64    `json:"offered_a"`
	SoCPct    float64    `json:"soc_pct"` // -1 when unknown
	MeterAt   time.Time  `json:"meter_at"`
	// Session fields; Session is false when nothing is plugged in.
	Session       bool      `json:"session"`
	TransactionID string    `json:"transaction_id,omitempty"`
	IDTag         string    `json:"-"` // public tags identify people: not served
	Group         string    `json:"group,omitempty"`
	SessionStart  time.Time `json:"session_start,omitempty"`
	SessionWh     float64   `json:"session_wh"`
	Departure     string    `json:"departure,omitempty"` // HH:MM, fleet tags
}

// Key names a connector: "CP01/1".
func (c Charger) Key() string { return c.ChargerID + "/" + strconv.Itoa(c.Connector) }

// Health is a device's state as its driver reports it.
type Health struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"`
}

// Snapshot is one consistent view of the office. Values is indexed
// measurement → device → field. A Snapshot is a copy: the cycle may keep it.
type Snapshot struct {
	Taken    time.Time                              `json:"taken"`
	Values   map[string]map[string]map[string]Value `json:"values"`
	Chargers []Charger                              `json:"chargers"`
	Health   []Health                               `json:"health"`
}

// Get returns one value, ok false when the field was never reported.
func (s Snapshot) Get(measurement, device, field string) (Value, bool) {
	v, ok := s.Values[measurement][device][field]
	return v, ok
}

// Float returns a numeric field as float64.
func (s Snapshot) Float(measurement, device, field string) (float64, time.Time, bool) {
	v, ok := s.Get(measurement, device, field)
	if !ok {
		return 0, time.Time{}, false
	}
	switch x := v.V.(type) {
	case float64:
		return x, v.At, true
	case int64:
		return float64(x), v.At, true
	case int:
		return float64(x), v.At, true
	}
	return 0, time.Time{}, false
}

// ChargerSource and HealthSource are what the edge adapts its drivers to.
type (
	ChargerSource interface{ Chargers() []Charger }
	HealthSource  interface{ Health() []Health }
)

// Image holds the latest values. Update is cheap (a map write under a mutex)
// because it runs on every driver's append path.
type Image struct {
	mu        sync.Mutex
	vals      map[string]map[string]map[string]Value
	untrusted uint64
	now       func() time.Time
	chargers  ChargerSource
	health    HealthSource
}

// New makes an empty image. now is the clock used to judge device times; the
// chargers and health sources may be nil.
func New(now func() time.Time, chargers ChargerSource, health HealthSource) *Image {
	if now == nil {
		now = time.Now
	}
	return &Image{vals: map[string]map[string]map[string]Value{}, now: now, chargers: chargers, health: health}
}

// Update records every field of the samples. Events are not state and are
// skipped; a sample whose time is not trusted is counted and skipped, and an
// older reading never overwrites a newer one (chargers replay queued
// messages after an outage).
func (im *Image) Update(samples ...sample.Sample) {
	now := im.now()
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, s := range samples {
		if s.Measurement == sample.MeasurementEvents {
			continue
		}
		if s.Time.Before(sample.MinTime) || s.Time.After(now.Add(FutureTolerance)) {
			im.untrusted++
			continue
		}
		dev := s.Tags[sample.TagDevice]
		if sub := subKey(s.Tags); sub != "" {
			dev += "." + sub
		}
		byDev := im.vals[s.Measurement]
		if byDev == nil {
			byDev = map[string]map[string]Value{}
			im.vals[s.Measurement] = byDev
		}
		fields := byDev[dev]
		if fields == nil {
			fields = map[string]Value{}
			byDev[dev] = fields
		}
		for k, v := range s.Fields {
			if old, ok := fields[k]; ok && old.At.After(s.Time) {
				continue
			}
			fields[k] = Value{V: v, At: s.Time}
		}
	}
}

// subKey keeps rows of one device apart when a second tag splits them (MPPT
// strings, locker compartments, EVSE connectors).
func subKey(tags map[string]string) string {
	for _, k := range []string{"string", "compartment", "connector", "evse"} {
		if v := tags[k]; v != "" {
			return v
		}
	}
	return ""
}

// Untrusted counts samples skipped for an untrusted time.
func (im *Image) Untrusted() uint64 {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.untrusted
}

// Snapshot copies the image. The charger and health sources are read outside
// the image's lock: they have locks of their own.
func (im *Image) Snapshot() Snapshot {
	var s Snapshot
	if im.chargers != nil {
		s.Chargers = im.chargers.Chargers()
	}
	if im.health != nil {
		s.Health = im.health.Health()
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	s.Taken = im.now()
	s.Values = make(map[string]map[string]map[string]Value, len(im.vals))
	for m, byDev := range im.vals {
		cd := make(map[string]map[string]Value, len(byDev))
		for d, fields := range byDev {
			cf := make(map[string]Value, len(fields))
			for k, v := range fields {
				cf[k] = v
			}
			cd[d] = cf
		}
		s.Values[m] = cd
	}
	return s
}
