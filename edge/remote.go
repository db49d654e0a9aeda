package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/ocpp"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// Remote commands: the fleet's commands arrive on the cmd topic, an
// installer's on POST /api/v1/commands; both run through runCommand, so the
// idempotency key, the expiry and the audit trail are the same whoever asks.

var commandsBucket = []byte("remote_commands")

// commandRecord is what state.db keeps per idempotency key.
type commandRecord struct {
	Started time.Time          `json:"started"` // daemon start that ran it: a record from an earlier run never finished
	Done    bool               `json:"done"`
	Result  wire.CommandResult `json:"result"`
	Issued  time.Time          `json:"issued"`
}

// commandKeep bounds the idempotency records by age: a command older than
// this is long expired, so its key cannot come back usefully.
const commandKeep = 7 * 24 * time.Hour

// onRemoteCommand is the uplink's hook (paho's goroutine): hand over.
func (d *Daemon) onRemoteCommand(payload []byte, reply func([]byte) error) {
	go func() {
		c, err := wire.DecodeCommand(payload)
		var res wire.CommandResult
		switch {
		case err != nil && c.ID == "":
			d.log.Warn("remote command without id dropped", "err", err)
			return
		case err != nil:
			res = wire.CommandResult{ID: c.ID, Status: wire.CmdRefused, Reason: err.Error(), At: time.Now().UTC()}
		default:
			res = d.runCommand(Operator{Name: "fleet:" + c.User, Role: "operator"}, c)
		}
		if res.ID == "" {
			return // a duplicate still running: the first delivery answers
		}
		b, _ := json.Marshal(res)
		if err := reply(b); err != nil {
			// Kept in state.db: the fleet's redelivery gets it.
			d.log.Warn("command result not sent", "id", c.ID, "err", err)
		}
	}()
}

// runCommand executes c at most once per ID and never after it expired.
// A duplicate of a command still running returns an empty result.
func (d *Daemon) runCommand(op Operator, c wire.Command) wire.CommandResult {
	now := time.Now().UTC()
	var prev commandRecord
	found := false
	err := d.state.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(commandsBucket)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(c.ID)); v != nil {
			found = true
			return json.Unmarshal(v, &prev)
		}
		rec, _ := json.Marshal(commandRecord{Started: d.started, Issued: c.Issued})
		return b.Put([]byte(c.ID), rec)
	})
	if err != nil {
		return wire.CommandResult{ID: c.ID, Status: wire.CmdRefused, Reason: "state.db: " + err.Error(), At: now}
	}
	if found {
		switch {
		case prev.Done:
			return prev.Result
		case !prev.Started.Equal(d.started):
			return wire.CommandResult{ID: c.ID, Status: wire.CmdRefused, At: now,
				Reason: "the edge restarted while executing this command: outcome unknown, not repeated"}
		}
		return wire.CommandResult{}
	}
	var res wire.CommandResult
	if now.After(c.Expires) {
		res = wire.CommandResult{ID: c.ID, Status: wire.CmdTimedOut, Reason: "expired before execution", At: now}
		d.audit(op, "command:"+c.Action, c.Device, c.Params, res.Status, errors.New(res.Reason))
	} else {
		ctx, cancel := context.WithDeadline(context.Background(), c.Expires)
		res = d.execCommand(ctx, op, c)
		cancel()
	}
	res.ID, res.At = c.ID, time.Now().UTC()
	rec, _ := json.Marshal(commandRecord{Started: d.started, Done: true, Result: res, Issued: c.Issued})
	if err := d.state.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(commandsBucket)
		pruneCommands(b, now)
		return b.Put([]byte(c.ID), rec)
	}); err != nil {
		d.log.Error("command result not stored", "id", c.ID, "err", err)
	}
	return res
}

// pruneCommands drops records of commands issued long ago; cheap enough at
// the rate commands come (a handful a day per office).
func pruneCommands(b *bolt.Bucket, now time.Time) {
	var old [][]byte
	b.ForEach(func(k, v []byte) error {
		var r commandRecord
		if json.Unmarshal(v, &r) == nil && r.Done && now.Sub(r.Issued) > commandKeep {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range old {
		b.Delete(k)
	}
}

// defaultOverride is how long a charger_limit without minutes holds when
// the rules own the limits: a limit nobody set an end to must not stay
// forever, nor be ignored.
const defaultOverride = time.Hour

// commandParams is the union of every action's params.
type commandParams struct {
	Compartment   string   `json:"compartment"`
	Reason        string   `json:"reason"`
	Hard          bool     `json:"hard"`
	Connector     int      `json:"connector"`
	IDTag         string   `json:"id_tag"`
	TransactionID string   `json:"transaction_id"`
	Amps          *float64 `json:"amps"`
	Minutes       *float64 `json:"minutes"` // charger_limit with rules: nil = defaultOverride, 0 clears
	Mode          *string  `json:"mode"`
	Pct           *float64 `json:"pct"`
	Name          string   `json:"name"`
	Value         *float64 `json:"value"`
}

// execCommand runs one command on the drivers and audits it.
func (d *Daemon) execCommand(ctx context.Context, op Operator, c wire.Command) (res wire.CommandResult) {
	defer func() {
		var err error
		if res.Reason != "" {
			err = errors.New(res.Reason)
		}
		d.audit(op, "command:"+c.Action, c.Device, c.Params, res.Status, err)
	}()
	var p commandParams
	if len(c.Params) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(c.Params)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return refused("params: %v", err)
		}
	}
	switch c.Action {
	case "locker_open":
		if d.mqtt == nil {
			return refused("no lockers configured")
		}
		r, err := d.mqtt.OpenCompartment(ctx, c.Device, p.Compartment, p.Reason, strings.TrimPrefix(op.Name, "fleet:"), c.ID)
		if err != nil {
			return outcome(err)
		}
		// r.Reason is the operator's reason for opening; why it was
		// refused or timed out is r.Detail.
		res := wire.CommandResult{Status: r.Result, Reason: r.Detail, Detail: r}
		if st := d.deviceState(c.Device); r.Result == wire.CmdTimedOut && st != "" && st != health.OK {
			// No answer from a bank the edge knows is away: it did not get
			// the command (clean session), so say so.
			res.Status, res.Reason = wire.CmdDeviceOffline, fmt.Sprintf("locker bank %s is %s: %s", c.Device, st, r.Detail)
		}
		return res
	case "charger_reset", "charger_unlock", "charger_start", "charger_stop":
		if d.ocpp == nil {
			return refused("no chargers configured")
		}
		var status string
		var err error
		switch c.Action {
		case "charger_reset":
			status, err = d.ocpp.Reset(ctx, c.Device, p.Hard)
		case "charger_unlock":
			status, err = d.ocpp.Unlock(ctx, c.Device, max(p.Connector, 1))
		case "charger_start":
			if p.IDTag == "" {
				return refused("id_tag required")
			}
			status, err = d.ocpp.RemoteStart(ctx, c.Device, p.Connector, p.IDTag)
		case "charger_stop":
			if p.TransactionID == "" {
				return refused("transaction_id required")
			}
			status, err = d.ocpp.RemoteStop(ctx, c.Device, p.TransactionID)
		}
		if err != nil {
			return outcome(err)
		}
		if status != "Accepted" && status != "Unlocked" {
			return wire.CommandResult{Status: wire.CmdRefused, Reason: "charger answered " + status, Detail: status}
		}
		return wire.CommandResult{Status: wire.CmdDone, Detail: status}
	case "charger_limit":
		if p.Amps == nil {
			return refused("amps required")
		}
		if d.rules != nil { // the rules own the limits: an override, or the next cycle undoes it
			dur := defaultOverride
			if p.Minutes != nil {
				dur = time.Duration(*p.Minutes * float64(time.Minute))
			}
			ov, err := d.rules.SetOverride(c.Device, max(p.Connector, 1), *p.Amps, dur, op.Name)
			if err != nil {
				return refused("%v", err)
			}
			return wire.CommandResult{Status: wire.CmdDone, Detail: ov}
		}
		if d.ocpp == nil {
			return refused("no chargers configured")
		}
		lr, err := d.ocpp.SetLimit(ctx, c.Device, max(p.Connector, 1), ocpp.Limit{Unit: "A", Value: *p.Amps})
		if err != nil {
			return outcome(err)
		}
		return wire.CommandResult{Status: wire.CmdDone, Detail: lr}
	case "charger_mode":
		if d.rules == nil {
			return refused("no rules configured: charger modes need the rules section")
		}
		if p.Mode == nil {
			return refused("mode required")
		}
		if err := d.rules.SetMode(c.Device, *p.Mode); err != nil {
			return refused("%v", err)
		}
		return wire.CommandResult{Status: wire.CmdDone}
	case "rule_param":
		if err := d.setRuleParam(p.Name, p.Value); err != nil {
			return refused("%v", err)
		}
		return wire.CommandResult{Status: wire.CmdDone, Detail: map[string]any{p.Name: *p.Value}}
	case "inverter_limit", "inverter_limit_clear":
		if d.modbus == nil {
			return refused("no inverters configured")
		}
		var err error
		if c.Action == "inverter_limit" {
			if p.Pct == nil {
				return refused("pct required")
			}
			err = d.modbus.SetProductionLimit(ctx, c.Device, *p.Pct)
		} else {
			err = d.modbus.ClearProductionLimit(ctx, c.Device)
		}
		if err != nil {
			return outcome(err)
		}
		return wire.CommandResult{Status: wire.CmdDone}
	}
	return refused("unknown action %q", c.Action)
}

// deviceState is a device's health as its driver reports it ("" unknown).
func (d *Daemon) deviceState(id string) health.State {
	for _, dev := range d.devices() {
		if dev.ID == id {
			return dev.State
		}
	}
	return ""
}

func refused(format string, args ...any) wire.CommandResult {
	return wire.CommandResult{Status: wire.CmdRefused, Reason: fmt.Sprintf(format, args...)}
}

// outcome classifies a driver error.
func outcome(err error) wire.CommandResult {
	switch {
	case errors.Is(err, ocpp.ErrNotConnected):
		return wire.CommandResult{Status: wire.CmdDeviceOffline, Reason: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return wire.CommandResult{Status: wire.CmdTimedOut, Reason: err.Error()}
	}
	return wire.CommandResult{Status: wire.CmdRefused, Reason: err.Error()}
}

// commandRequest is an installer's command on the local API.
type commandRequest struct {
	ID      string          `json:"id"` // idempotency key; a retry with the same id is answered, not repeated
	Action  string          `json:"action"`
	Device  string          `json:"device"`
	Params  json.RawMessage `json:"params"`
	Timeout float64         `json:"timeout_s"` // default 30
}

func (d *Daemon) remoteRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/commands", d.operatorOnly("operator", d.handleCommand))
}

func (d *Daemon) handleCommand(w http.ResponseWriter, r *http.Request, op Operator) {
	var req commandRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if req.Timeout <= 0 {
		req.Timeout = 30
	}
	now := time.Now().UTC()
	c := wire.Command{ID: req.ID, Action: req.Action, Device: req.Device, Params: req.Params, User: op.Name,
		Issued: now, Expires: now.Add(time.Duration(min(req.Timeout, 600) * float64(time.Second)))}
	if err := c.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res := d.runCommand(op, c)
	if res.ID == "" {
		writeError(w, http.StatusConflict, "command "+c.ID+" is still running")
		return
	}
	writeJSON(w, http.StatusOK, res)
}
