// Package locker defines the Polis locker protocol (version 1) spoken over
// MQTT between a parcel-locker bank controller and the office edge, and the
// edge's side of it: authorised, audited, idempotent commands.
//
// docs/locker-protocol.md is the normative description; this file is its
// executable form.
package locker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/polis-edge/polis/protocols/mqtt/mapping"
)

// Version of the protocol carried in every message as "v".
const Version = 1

// TopicRoot prefixes every locker topic: polis/locker/v1/<bank>/<kind>.
const TopicRoot = "polis/locker/v1"

// Topic kinds.
const (
	KindStatus       = "status"       // controller → edge, retained, QoS 1
	KindEvent        = "event"        // controller → edge, QoS 1
	KindCmd          = "cmd"          // edge → controller, QoS 1
	KindResult       = "result"       // controller → edge, QoS 1
	KindAvailability = "availability" // controller → edge, retained, last will "offline"
	KindRequest      = "request"      // operator → edge (embedded broker only), QoS 1
	KindReply        = "reply"        // edge → operator, under reply/<operator>, QoS 1
)

// Topic returns the topic of one kind for a bank.
func Topic(bank, kind string) string { return TopicRoot + "/" + bank + "/" + kind }

// ReplyTopic is where the edge answers operator's requests about bank;
// only that operator may read it.
func ReplyTopic(bank, operator string) string { return Topic(bank, KindReply) + "/" + operator }

// ParseTopic splits a locker topic into bank and kind.
func ParseTopic(topic string) (bank, kind string, ok bool) {
	rest, found := strings.CutPrefix(topic, TopicRoot+"/")
	if !found {
		return "", "", false
	}
	bank, kind, ok = strings.Cut(rest, "/")
	return bank, kind, ok && bank != "" && !strings.Contains(kind, "/")
}

// Compartment states.
const (
	StateEmpty        = "empty"
	StateOccupied     = "occupied"
	StateOpen         = "open"
	StateReserved     = "reserved"
	StateOutOfService = "out_of_service"
	StateFault        = "fault"
)

var compartmentStates = map[string]bool{StateEmpty: true, StateOccupied: true, StateOpen: true,
	StateReserved: true, StateOutOfService: true, StateFault: true}

// Power states of a bank.
const (
	PowerMains   = "mains"
	PowerBattery = "battery"
	PowerFailure = "failure"
)

// Compartment is one door of a bank.
type Compartment struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Door   string `json:"door"` // "open" or "closed", from the door sensor
	Parcel string `json:"parcel,omitempty"`
}

// Status is the bank's full picture, published retained on change and at
// least every 5 minutes.
type Status struct {
	V            int           `json:"v"`
	Bank         string        `json:"bank"`
	Online       bool          `json:"online"`
	Power        string        `json:"power"`
	TemperatureC *float64      `json:"temperature_c,omitempty"`
	Compartments []Compartment `json:"compartments"`
	Time         time.Time     `json:"time"`
}

// Event types.
const (
	EventDeposit         = "deposit"
	EventPickup          = "pickup"
	EventDoorOpened      = "door_opened"
	EventDoorClosed      = "door_closed"
	EventDoorLeftOpen    = "door_left_open"
	EventForcedOpen      = "forced_open"
	EventTamper          = "tamper"
	EventPowerFailure    = "power_failure"
	EventPowerRestored   = "power_restored"
	EventControllerFault = "controller_fault"
)

// EventSeverity maps event types to sample.Event severities; unknown types
// are refused by Validate.
var EventSeverity = map[string]string{
	EventDeposit: "info", EventPickup: "info", EventDoorOpened: "info", EventDoorClosed: "info",
	EventDoorLeftOpen: "warning", EventPowerRestored: "info", EventPowerFailure: "critical",
	EventForcedOpen: "critical", EventTamper: "critical", EventControllerFault: "critical",
}

// Event is something that happened at the bank.
type Event struct {
	V           int       `json:"v"`
	ID          string    `json:"id"` // unique per bank; duplicates (QoS 1 redelivery) carry the same id and time
	Type        string    `json:"type"`
	Compartment string    `json:"compartment,omitempty"`
	Parcel      string    `json:"parcel,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	Time        time.Time `json:"time"`
}

// Commands.
const (
	CmdOpen          = "open"
	CmdOutOfService  = "set_out_of_service"
	CmdRequestStatus = "request_status"
)

// Command is sent by the edge. A controller executes a command id at most
// once (it remembers ids for at least 24 h and answers a repeated id with the
// first result) and never after Deadline, so a late redelivery cannot open
// a door minutes after the operator gave up.
type Command struct {
	V            int       `json:"v"`
	ID           string    `json:"id"`
	Cmd          string    `json:"cmd"`
	Compartment  string    `json:"compartment,omitempty"`
	OutOfService *bool     `json:"out_of_service,omitempty"` // set_out_of_service: true takes out, false puts back
	Reason       string    `json:"reason,omitempty"`
	Operator     string    `json:"operator,omitempty"`
	Deadline     time.Time `json:"deadline"`
}

// Results.
const (
	ResultDone     = "done"
	ResultRefused  = "refused"
	ResultTimedOut = "timed_out" // set by the edge only
	// ResultError answers an operator request the edge could not take (bad
	// JSON, missing field, reused id): it was not sent to the bank.
	ResultError = "error"
)

// Reply answers an operator's request on its reply topic: the command's
// record as the Go API returns it.
type Reply struct {
	V int `json:"v"`
	Record
}

// Result answers a Command.
type Result struct {
	V      int       `json:"v"`
	ID     string    `json:"id"`
	Result string    `json:"result"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// ErrProtocol wraps every decoding and validation failure.
var ErrProtocol = errors.New("locker protocol")

// Decode unmarshals and validates one message of type *Status, *Event,
// *Command or *Result.
func Decode(payload []byte, msg interface{ validate() error }) error {
	if err := json.Unmarshal(payload, msg); err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if err := msg.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return nil
}

func checkVersion(v int) error {
	if v != Version {
		return fmt.Errorf("version %d not supported (want %d)", v, Version)
	}
	return nil
}

func (s *Status) validate() error {
	if err := checkVersion(s.V); err != nil {
		return err
	}
	switch s.Power {
	case PowerMains, PowerBattery, PowerFailure:
	default:
		return fmt.Errorf("power %q is not mains, battery or failure", s.Power)
	}
	for i, c := range s.Compartments {
		if c.ID == "" || !compartmentStates[c.State] {
			return fmt.Errorf("compartments[%d]: bad id %q or state %q", i, c.ID, c.State)
		}
		// The id becomes the compartment tag: line protocol must carry it.
		if err := mapping.CheckTagValue(c.ID); err != nil {
			return fmt.Errorf("compartments[%d].id %q: %w", i, c.ID, err)
		}
		if c.Door != "open" && c.Door != "closed" {
			return fmt.Errorf("compartments[%d].door: %q is not open or closed", i, c.Door)
		}
	}
	return nil
}

func (e *Event) validate() error {
	if err := checkVersion(e.V); err != nil {
		return err
	}
	if e.ID == "" {
		return errors.New("event without id")
	}
	if _, ok := EventSeverity[e.Type]; !ok {
		return fmt.Errorf("unknown event type %q", e.Type)
	}
	return nil
}

func (c *Command) validate() error {
	if err := checkVersion(c.V); err != nil {
		return err
	}
	if c.ID == "" {
		return errors.New("command without id")
	}
	switch c.Cmd {
	case CmdOpen, CmdOutOfService:
		if c.Compartment == "" {
			return fmt.Errorf("%s without compartment", c.Cmd)
		}
	case CmdRequestStatus:
	default:
		return fmt.Errorf("unknown command %q", c.Cmd)
	}
	return nil
}

func (r *Result) validate() error {
	if err := checkVersion(r.V); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("result without id")
	}
	if r.Result != ResultDone && r.Result != ResultRefused {
		return fmt.Errorf("result %q is not done or refused", r.Result)
	}
	return nil
}
