// Package audit is the fleet's audit trail: who did what to which office,
// when, and with what result. Entries live in the fleet's state store in time
// order and are pruned by age.
package audit

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/polis-edge/polis/fleet/state"
)

const bucket = "audit"

// Entry is one audited action.
type Entry struct {
	Time     time.Time `json:"time"`
	User     string    `json:"user"`
	Action   string    `json:"action"`           // e.g. login, user_add, alarm_ack, command
	Target   string    `json:"target,omitempty"` // office id, user name, alarm id
	Office   string    `json:"office,omitempty"`
	Region   string    `json:"region,omitempty"`
	Province string    `json:"province,omitempty"`
	Params   any       `json:"params,omitempty"`
	Result   string    `json:"result"` // ok, refused, failed, ...
	Error    string    `json:"error,omitempty"`
}

// Log appends to the trail.
type Log struct {
	st  state.Store
	log *slog.Logger
}

func New(st state.Store, log *slog.Logger) *Log { return &Log{st: st, log: log} }

// Add records e (its Time defaults to now). A failure to store is logged
// loudly: the action already happened and must at least be in the log.
func (l *Log) Add(e Entry) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err == nil {
		err = l.st.Put(bucket, state.TimeKey(e.Time), b)
	}
	if err != nil {
		l.log.Error("audit entry not stored", "err", err, "user", e.User, "action", e.Action, "target", e.Target, "result", e.Result)
		return
	}
	l.log.Info("audit", "user", e.User, "action", e.Action, "target", e.Target, "result", e.Result, "error", e.Error)
}

// Query selects entries; zero fields match everything.
type Query struct {
	From, To time.Time
	Office   string
	User     string
	Match    func(Entry) bool // scope check
	Limit    int              // newest Limit entries (0 = 1000)
}

// List returns the matching entries, newest first.
func (l *Log) List(q Query) ([]Entry, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var out []Entry
	err := l.st.Scan(bucket, "", state.TimeFrom(q.From), func(_ string, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("audit entry: %w", err)
		}
		if !q.To.IsZero() && e.Time.After(q.To) {
			return state.ErrStop
		}
		if (q.Office != "" && e.Office != q.Office) || (q.User != "" && e.User != q.User) || (q.Match != nil && !q.Match(e)) {
			return nil
		}
		out = append(out, e)
		if len(out) > q.Limit {
			out = out[1:]
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if out == nil {
		out = []Entry{}
	}
	return out, err
}

// Prune deletes entries older than keep.
func (l *Log) Prune(keep time.Duration) (int, error) {
	return state.PruneBefore(l.st, bucket, time.Now().Add(-keep))
}
