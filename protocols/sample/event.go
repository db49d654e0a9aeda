package sample

import "time"

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
