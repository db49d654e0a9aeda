// Package commands is the fleet's side of remote commands: it records each
// command in the fleet's state store under its idempotency key, publishes it
// on the office's cmd topic, resends it while the office has not answered
// and the command has not expired (the edge executes an id at most once, so
// a resend after a reconnect is safe), and records the edge's result. A
// command not answered before it expires is timed_out: the edge refuses to
// execute it late.
package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/protocols/uplink"
)

const bucket = "commands"

// Pending and Sent precede a result from the edge (uplink.Cmd*).
const (
	Sent = "sent"
)

// Record is one command and what became of it.
type Record struct {
	uplink.Command
	alarms.Place
	Status   string    `json:"status"` // sent, then done, refused, device_offline or timed_out
	Reason   string    `json:"reason,omitempty"`
	Detail   any       `json:"detail,omitempty"`
	Sends    int       `json:"sends"`
	LastSend time.Time `json:"last_send,omitzero"`
	Answered time.Time `json:"answered,omitzero"`
}

// Final reports whether the command has its result.
func (r Record) Final() bool { return r.Status != Sent }

// Publisher sends a message to an office (the fleet's broker).
type Publisher interface {
	Publish(topic string, payload []byte, qos byte, retain bool) error
}

// Commands is safe for concurrent use.
type Commands struct {
	st     state.Store
	pub    Publisher
	log    *slog.Logger
	resend time.Duration

	// transition serialises the record writes that change a command's
	// state (sent, answered), so a stale copy never lands after a newer one.
	// Commands are rare and human-paced: nothing else waits on it.
	transition sync.Mutex
	mu         sync.Mutex
	open       map[string]Record // id -> unanswered command
}

// ErrDuplicate: the id was used for a different command.
var ErrDuplicate = errors.New("idempotency key already used for another command")

// New loads the unanswered commands.
func New(st state.Store, pub Publisher, resend time.Duration, log *slog.Logger) (*Commands, error) {
	c := &Commands{st: st, pub: pub, log: log, resend: resend, open: map[string]Record{}}
	err := st.Scan(bucket, "", "", func(_ string, v []byte) error {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("command record: %w", err)
		}
		if !r.Final() {
			c.open[r.ID] = r
		}
		return nil
	})
	return c, err
}

// Send records and publishes cmd. A command with an id already known is not
// sent again: its record is returned (existing=true), so a client retrying
// after a lost answer cannot make the edge act twice.
func (c *Commands) Send(cmd uplink.Command, p alarms.Place) (rec Record, existing bool, err error) {
	if err := cmd.Validate(); err != nil {
		return Record{}, false, err
	}
	rec = Record{Command: cmd, Place: p, Status: Sent}
	b, _ := json.Marshal(rec)
	if err := c.st.Create(bucket, cmd.ID, b); errors.Is(err, state.ErrExists) {
		old, err := c.Get(cmd.ID)
		if err != nil {
			return Record{}, false, err
		}
		if old.Office != p.Office || old.Action != cmd.Action || old.Device != cmd.Device || string(old.Params) != string(cmd.Params) {
			return old, true, ErrDuplicate
		}
		return old, true, nil
	} else if err != nil {
		return Record{}, false, err
	}
	c.mu.Lock()
	c.open[cmd.ID] = rec
	c.mu.Unlock()
	return c.publish(rec, time.Now().UTC()), false, nil
}

func (c *Commands) publish(rec Record, now time.Time) Record {
	payload, _ := json.Marshal(rec.Command)
	if err := c.pub.Publish(uplink.Topic(rec.Office, uplink.KindCmd), payload, 1, false); err != nil {
		c.log.Warn("command not published, will retry", "id", rec.ID, "office", rec.Office, "err", err)
		return rec
	}
	rec.Sends++
	rec.LastSend = now
	// The office may answer before this line: Result then closed the record
	// and stored the answer, and this "sent" copy must not overwrite it.
	c.transition.Lock()
	defer c.transition.Unlock()
	c.mu.Lock()
	_, open := c.open[rec.ID]
	if open {
		c.open[rec.ID] = rec
	}
	c.mu.Unlock()
	if open {
		c.save(rec)
	}
	return rec
}

func (c *Commands) save(rec Record) {
	b, _ := json.Marshal(rec)
	if err := c.st.Put(bucket, rec.ID, b); err != nil {
		c.log.Error("command record not stored", "id", rec.ID, "err", err)
	}
}

// Get returns a command's record.
func (c *Commands) Get(id string) (Record, error) {
	b, err := c.st.Get(bucket, id)
	if err != nil {
		return Record{}, err
	}
	var r Record
	return r, json.Unmarshal(b, &r)
}

// Result applies an edge's answer from office and returns the record it
// completed (ok false: nothing recorded). Answers for unknown ids or from
// another office are ignored (and logged).
func (c *Commands) Result(office string, payload []byte) (Record, bool) {
	var res uplink.CommandResult
	if err := json.Unmarshal(payload, &res); err != nil || res.ID == "" {
		c.log.Warn("malformed command result", "office", office, "err", err)
		return Record{}, false
	}
	c.transition.Lock()
	defer c.transition.Unlock()
	c.mu.Lock()
	rec, ok := c.open[res.ID]
	if ok && rec.Office == office {
		delete(c.open, res.ID)
	}
	c.mu.Unlock()
	if !ok || rec.Office != office {
		c.log.Debug("command result for no open command", "office", office, "id", res.ID)
		return Record{}, false
	}
	rec.Status, rec.Reason, rec.Detail, rec.Answered = res.Status, res.Reason, res.Detail, time.Now().UTC()
	c.save(rec)
	return rec, true
}

// Tick resends unanswered commands to online offices and times out the
// expired ones. online reports whether an office is connected now.
func (c *Commands) Tick(now time.Time, online func(office string) bool) {
	c.mu.Lock()
	var resend, expired []Record
	for id, r := range c.open {
		switch {
		case now.After(r.Expires):
			delete(c.open, id)
			expired = append(expired, r)
		case online(r.Office) && now.Sub(r.LastSend) >= c.resend:
			resend = append(resend, r)
		}
	}
	c.mu.Unlock()
	for _, r := range expired {
		r.Status, r.Reason, r.Answered = uplink.CmdTimedOut, "no answer from the office before the command expired; the edge never executes it late", now
		c.save(r)
	}
	for _, r := range resend {
		c.publish(r, now)
	}
}

// Query selects commands from the history.
type Query struct {
	Office  string
	Allowed func(alarms.Place) bool
	Limit   int
}

// List returns commands, newest first.
func (c *Commands) List(q Query) ([]Record, error) {
	if q.Limit <= 0 {
		q.Limit = 200
	}
	out := []Record{}
	err := c.st.Scan(bucket, "", "", func(_ string, v []byte) error {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if (q.Office == "" || r.Office == q.Office) && (q.Allowed == nil || q.Allowed(r.Place)) {
			out = append(out, r)
		}
		return nil
	})
	// Keys are ids, not times: sort by issue time.
	sortNewest(out)
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, err
}

func sortNewest(rs []Record) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Issued.After(rs[j].Issued) })
}

// Prune deletes answered commands issued before now-keep.
func (c *Commands) Prune(keep time.Duration) (int, error) {
	limit := time.Now().Add(-keep)
	var old []string
	err := c.st.Scan(bucket, "", "", func(k string, v []byte) error {
		var r Record
		if json.Unmarshal(v, &r) == nil && r.Final() && r.Issued.Before(limit) {
			old = append(old, k)
		}
		return nil
	})
	for _, k := range old {
		if err := c.st.Delete(bucket, k); err != nil {
			return 0, err
		}
	}
	return len(old), err
}
