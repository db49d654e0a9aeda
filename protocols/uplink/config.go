package uplink

import "time"

// ConfigPush is the fleet's desired edge config on polis/v1/<office>/config
// (QoS 1, retained, so an office offline during the push gets it when it
// returns).
type ConfigPush struct {
	Version int64     `json:"version"` // per office, increasing
	YAML    string    `json:"yaml"`    // the whole edge config file
	User    string    `json:"user"`
	Time    time.Time `json:"time"`
}

// Config apply outcomes.
const (
	ConfigApplied = "applied" // validated, stored; hot sections in force, RestartNeeded lists the others
	ConfigRefused = "refused" // did not validate or is not allowed remotely: the running config stays
	// ConfigRolledBack: applied, then given up (no fleet contact within the
	// grace time, or the daemon could not start with it); Running is the
	// version back in force.
	ConfigRolledBack = "rolled_back"
)

// ConfigAck is the edge's answer on polis/v1/<office>/config/applied
// (QoS 1, retained: the fleet sees the last outcome after its own restart).
type ConfigAck struct {
	Version       int64    `json:"version"`
	Status        string   `json:"status"`
	Reason        string   `json:"reason,omitempty"`
	RestartNeeded []string `json:"restart_needed,omitempty"` // sections applied by restarting the daemon
	// Running is the remote config version in force after this outcome
	// (0: the office's local config file).
	Running int64     `json:"running"`
	Time    time.Time `json:"time"`
}
