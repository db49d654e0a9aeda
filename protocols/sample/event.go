package sample

import (
	"hash/fnv"
	"time"
)

// MeasurementEvents holds alarms and events (charger fault, locker tamper,
// device unreachable). Events travel through the same durable buffer as
// telemetry, so an event is never lost on an uplink outage; the fleet picks
// them out of the stream to raise alarms.
const MeasurementEvents = "events"

// Event severities.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Event builds an events sample. kind is a stable machine name such as
// "device_unreachable" or "locker_tamper"; message is for people. extra fields
// (parcel reference, connector, …) are added as fields.
func Event(device, kind, severity, message string, t time.Time, extra map[string]any) Sample {
	fields := map[string]any{"message": message, "severity": severity}
	for k, v := range extra {
		fields[k] = v
	}
	return Sample{
		Measurement: MeasurementEvents,
		Tags:        map[string]string{TagDevice: device, "kind": kind},
		Fields:      fields,
		Time:        t,
	}
}

// Distinct gives an event its own point. InfluxDB keeps one point per series
// and timestamp, and an event's series is (office, device, kind): three
// inverter event bits raised in one poll, or two locker deposits in the same
// second of a controller's clock, would overwrite each other. Distinct shifts
// the time by a sub-millisecond offset derived from key, which names the event
// (the event bit, the locker message id, the transaction and its seqNo). A
// different key gives a different point; a redelivery of the same event gives
// the same key and lands on the same point, so at-least-once delivery stays
// idempotent. No tag is added, so series cardinality does not grow.
//
// The offset is below one millisecond: every consumer that reads events at
// second or millisecond precision sees the moment the device reported.
func (s Sample) Distinct(key string) Sample {
	h := fnv.New64a()
	h.Write([]byte(key))
	offset := time.Duration(h.Sum64() % uint64(time.Millisecond))
	s.Time = s.Time.Truncate(time.Millisecond).Add(offset)
	return s
}
