package uplink

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Command is a remote command from the fleet on polis/v1/<office>/cmd (QoS 1,
// not retained). ID is the idempotency key: an edge executes an ID at most
// once and answers every redelivery with the first result. After Expires the
// edge never executes it (answer timed_out), so a command that waited for an
// offline office is never executed late.
type Command struct {
	ID      string          `json:"id"`
	Action  string          `json:"action"` // see Actions
	Device  string          `json:"device,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	User    string          `json:"user"` // the fleet user, for the edge's audit trail
	Issued  time.Time       `json:"issued"`
	Expires time.Time       `json:"expires"`
}

// Actions a command may name, with the params each takes.
var Actions = map[string]string{
	"locker_open":          `{"compartment": "A01", "reason": "..."}`,
	"charger_reset":        `{"hard": false}`,
	"charger_unlock":       `{"connector": 1}`,
	"charger_start":        `{"connector": 1, "id_tag": "..."}`,
	"charger_stop":         `{"transaction_id": "..."}`,
	"charger_limit":        `{"connector": 1, "amps": 16, "minutes": 60}`,
	"charger_mode":         `{"mode": "off|now|minpv|pv|"}`,
	"inverter_limit":       `{"pct": 50}`,
	"inverter_limit_clear": `{}`,
	"rule_param":           `{"name": "contracted_kw", "value": 6}`, // device "rules"
}

// Command results.
const (
	CmdDone          = "done"
	CmdRefused       = "refused"        // with Reason
	CmdDeviceOffline = "device_offline" // the device did not answer or is not connected
	CmdTimedOut      = "timed_out"      // expired before execution, or no answer in time
)

// CommandResult is the edge's answer on polis/v1/<office>/cmd/result.
type CommandResult struct {
	ID     string    `json:"id"`
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	Detail any       `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// Validate checks a command before it is sent or executed.
func (c Command) Validate() error {
	var errs []error
	if c.ID == "" || len(c.ID) > 128 {
		errs = append(errs, errors.New("id: 1-128 characters required (idempotency key)"))
	}
	if _, ok := Actions[c.Action]; !ok {
		errs = append(errs, fmt.Errorf("action %q unknown", c.Action))
	}
	if c.Device == "" {
		errs = append(errs, errors.New("device: required"))
	}
	if c.Expires.IsZero() || !c.Expires.After(c.Issued) {
		errs = append(errs, errors.New("expires: must be after issued"))
	}
	if len(c.Params) > 0 && !json.Valid(c.Params) {
		errs = append(errs, errors.New("params: not JSON"))
	}
	return errors.Join(errs...)
}

// DecodeCommand parses and validates a command payload.
func DecodeCommand(payload []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("decode command: %w", err)
	}
	return c, c.Validate()
}
