package uplink

import (
	"encoding/json"
	"fmt"
	"time"
)

// Ack statuses.
const (
	// AckOK: the batch is durably in InfluxDB (less any Rejected lines, which
	// will never be accepted); the edge deletes Seq..Last from its buffer.
	AckOK = "ok"
	// AckRejected: the payload cannot be used at all (undecodable, wrong office);
	// resending the same bytes will not help, so the edge drops the range and
	// counts it, instead of poisoning its buffer with a batch that loops forever.
	AckRejected = "rejected"
	// AckRetry: the fleet could not store the batch now (InfluxDB down); the edge
	// keeps it and resends after a back-off.
	AckRetry = "retry"
)

// Ack is the fleet's answer to one Batch.
type Ack struct {
	Seq      uint64         `json:"seq"`
	Last     uint64         `json:"last"`
	Status   string         `json:"status"`
	Accepted int            `json:"accepted"`
	Rejected int            `json:"rejected,omitempty"`
	Reasons  map[string]int `json:"reasons,omitempty"` // rejected lines by reason
	Error    string         `json:"error,omitempty"`   // first error, for the logs
}

// DecodeAck parses an ack payload.
func DecodeAck(payload []byte) (Ack, error) {
	var a Ack
	if err := json.Unmarshal(payload, &a); err != nil {
		return Ack{}, fmt.Errorf("decode ack: %w", err)
	}
	switch a.Status {
	case AckOK, AckRejected, AckRetry:
	default:
		return Ack{}, fmt.Errorf("decode ack: unknown status %q", a.Status)
	}
	return a, nil
}

// Status is the retained message an office keeps on polis/v1/<office>/status.
// The last will sets Online=false, so the fleet sees a dead link without polling.
type Status struct {
	Office  string    `json:"office"`
	Online  bool      `json:"online"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started,omitempty"`
	Time    time.Time `json:"time"`
	// Backlog is the number of samples waiting in the edge buffer.
	Backlog int64 `json:"backlog"`
	// Dropped counts samples lost at the edge, by reason, since the buffer was created.
	Dropped map[string]uint64 `json:"dropped,omitempty"`
	// Devices maps device id to its health (ok, stale, unreachable, misconfigured).
	Devices map[string]string `json:"devices,omitempty"`
	// ConfigVersion is the remote config version the edge runs (0: its
	// local config file), so the fleet sees applied beside desired.
	ConfigVersion int64 `json:"config_version,omitempty"`
}
