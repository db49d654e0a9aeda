// Package health is the shared vocabulary for a device's condition. Every
// protocol driver reports its devices in these terms so that /api/v1/status,
// metrics and the fleet dashboard show one picture for Modbus, OCPP and MQTT.
package health

import "time"

// State of one device as the edge sees it.
type State string

const (
	OK            State = "ok"            // answering with sensible data
	Stale         State = "stale"         // answering, but with data we refuse or none for too long
	Unreachable   State = "unreachable"   // no connection / no answer
	Misconfigured State = "misconfigured" // the config cannot work for this device (wrong model, bad map)
	Offline       State = "offline"       // a push device (MQTT, OCPP) announced or timed out its absence
)

// Device is a snapshot of one device's health.
type Device struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`     // inverter, meter, charger, sensor, locker
	Protocol  string            `json:"protocol"` // modbus, ocpp, mqtt
	State     State             `json:"state"`
	Since     time.Time         `json:"since"`
	LastSeen  time.Time         `json:"last_seen,omitzero"`
	LastError string            `json:"last_error,omitempty"`
	Counters  map[string]uint64 `json:"counters,omitempty"` // e.g. polls, errors, rejected_<reason>
}

// Reporter is implemented by every driver service.
type Reporter interface {
	Devices() []Device
}
