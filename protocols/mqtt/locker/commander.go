package locker

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/polis-edge/polis/protocols/sample"
)

// Buckets in the edge's state DB.
var (
	bucketCommands = []byte("locker_commands") // correlation id → Record
	bucketAudit    = []byte("locker_audit")    // sequence → AuditEntry
	bucketOutbox   = []byte("locker_outbox")   // sequence → event line protocol, until the sink took it
)

// Sink receives the command events (the edge's durable buffer).
type Sink interface {
	Append(ctx context.Context, samples ...sample.Sample) error
}

// Publisher sends a command to a bank (QoS 1).
type Publisher interface {
	PublishCommand(ctx context.Context, bank string, payload []byte) error
}

// Authorizer returns nil if operator may run cmd on bank/compartment.
type Authorizer func(operator, cmd, bank, compartment string) error

// Request is a command as the edge's API receives it.
type Request struct {
	ID           string `json:"id"`
	Bank         string `json:"bank"`
	Cmd          string `json:"cmd"`
	Compartment  string `json:"compartment,omitempty"`
	OutOfService bool   `json:"out_of_service,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Operator     string `json:"operator"`
}

// Record is a command and its outcome, persisted under its correlation id.
type Record struct {
	Request
	Result      string    `json:"result"` // pending, done, refused, timed_out
	Detail      string    `json:"detail,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
}

// Pending is the Result of a command still waiting for its bank.
const Pending = "pending"

// AuditEntry is one step in the audit trail.
type AuditEntry struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Step        string    `json:"step"` // requested, refused, sent, retry, done, timed_out, late_result
	ID          string    `json:"id"`
	Bank        string    `json:"bank"`
	Cmd         string    `json:"cmd"`
	Compartment string    `json:"compartment,omitempty"`
	Operator    string    `json:"operator"`
	Reason      string    `json:"reason,omitempty"`
	Detail      string    `json:"detail,omitempty"`
}

// ErrIDReused is returned when a correlation id comes back with different
// parameters: the caller has a bug, and guessing which one it meant could
// open the wrong door.
var ErrIDReused = errors.New("correlation id already used for a different command")

// Commander runs commands: authorise, audit, send once, wait for the result.
type Commander struct {
	db      *bbolt.DB
	pub     Publisher
	sink    Sink
	auth    Authorizer
	timeout time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	inflight map[string]chan struct{}
	flushMu  sync.Mutex
}

// NewCommander opens the buckets. Commands left pending by a previous run
// are closed as timed_out: whether the bank executed them is unknown, and
// sending them again could execute them twice.
func NewCommander(db *bbolt.DB, pub Publisher, sink Sink, auth Authorizer, timeout time.Duration, log *slog.Logger) (*Commander, error) {
	c := &Commander{db: db, pub: pub, sink: sink, auth: auth, timeout: timeout, log: log, inflight: map[string]chan struct{}{}}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketCommands, bucketAudit, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		var stale []Record
		err := tx.Bucket(bucketCommands).ForEach(func(_, v []byte) error {
			var r Record
			if json.Unmarshal(v, &r) == nil && r.Result == Pending {
				stale = append(stale, r)
			}
			return nil
		})
		for _, r := range stale {
			if err := c.close(tx, r, ResultTimedOut, "edge restarted before the bank answered; outcome unknown", time.Now()); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("locker commander: %w", err)
	}
	return c, nil
}

func (r Request) check() error {
	switch {
	case r.ID == "" || len(r.ID) > 128:
		return errors.New("correlation id must be 1-128 characters")
	case r.Bank == "":
		return errors.New("bank required")
	case r.Operator == "":
		return errors.New("operator required")
	}
	switch r.Cmd {
	case CmdOpen, CmdOutOfService:
		if r.Compartment == "" {
			return fmt.Errorf("%s needs a compartment", r.Cmd)
		}
		if r.Reason == "" {
			return fmt.Errorf("%s needs a reason", r.Cmd)
		}
	case CmdRequestStatus:
	default:
		return fmt.Errorf("unknown command %q", r.Cmd)
	}
	return nil
}

// Do runs a command and returns its record. A repeated correlation id
// returns the first outcome (waiting for it if still in flight) and never
// reaches the bank again. ctx only bounds the wait: the command keeps its
// own deadline and a later retry finds its result.
func (c *Commander) Do(ctx context.Context, req Request) (Record, error) {
	if err := req.check(); err != nil {
		return Record{}, fmt.Errorf("locker command: %w", err)
	}
	rec, send, err := c.begin(req)
	if err != nil {
		return Record{}, err
	}
	c.flush(ctx)
	if send {
		c.send(ctx, rec)
	}
	c.mu.Lock()
	done := c.inflight[req.ID]
	c.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return Record{}, fmt.Errorf("locker command %s: %w", req.ID, ctx.Err())
		}
	}
	return c.Get(req.ID)
}

// begin records the request (or finds the earlier one) atomically.
func (c *Commander) begin(req Request) (Record, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	rec := Record{Request: req, Result: Pending, RequestedAt: now}
	send := false
	err := c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCommands)
		if old := b.Get([]byte(req.ID)); old != nil {
			if err := json.Unmarshal(old, &rec); err != nil {
				return fmt.Errorf("decode command %s: %w", req.ID, err)
			}
			if rec.Request != req {
				return fmt.Errorf("%w: %s", ErrIDReused, req.ID)
			}
			return c.audit(tx, "retry", rec.Request, "result so far: "+rec.Result, now)
		}
		if err := c.audit(tx, "requested", req, "", now); err != nil {
			return err
		}
		if err := c.auth(req.Operator, req.Cmd, req.Bank, req.Compartment); err != nil {
			return c.close(tx, rec, ResultRefused, "not authorised: "+err.Error(), now)
		}
		send = true
		c.inflight[req.ID] = make(chan struct{})
		return put(b, rec)
	})
	if err != nil {
		delete(c.inflight, req.ID)
		return rec, false, err
	}
	return rec, send, nil
}

func (c *Commander) send(ctx context.Context, rec Record) {
	deadline := time.Now().Add(c.timeout)
	cmd := Command{V: Version, ID: rec.ID, Cmd: rec.Cmd, Compartment: rec.Compartment, Reason: rec.Reason, Operator: rec.Operator, Deadline: deadline}
	if rec.Cmd == CmdOutOfService {
		oos := rec.OutOfService
		cmd.OutOfService = &oos
	}
	payload, _ := json.Marshal(cmd)
	time.AfterFunc(c.timeout, func() {
		c.finish(rec.Bank, Result{ID: rec.ID, Result: ResultTimedOut, Reason: fmt.Sprintf("no result within %s", c.timeout)})
	})
	_ = c.db.Update(func(tx *bbolt.Tx) error {
		return c.audit(tx, "sent", rec.Request, "deadline "+deadline.Format(time.RFC3339), time.Now())
	})
	if err := c.pub.PublishCommand(ctx, rec.Bank, payload); err != nil {
		// The broker may or may not have taken it: only the timeout can close it honestly.
		c.log.Warn("locker command publish failed", "id", rec.ID, "bank", rec.Bank, "err", err)
	}
}

// HandleResult closes a command with the bank's answer. Results for
// another bank's command are refused; results after the timeout are audited
// as late (the door may have opened after all) but do not change the
// outcome already returned.
func (c *Commander) HandleResult(ctx context.Context, bank string, res Result) error {
	err := c.finish(bank, res)
	c.flush(ctx)
	return err
}

func (c *Commander) finish(bank string, res Result) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	err := c.db.Update(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketCommands).Get([]byte(res.ID))
		if raw == nil {
			return fmt.Errorf("result for unknown command %q", res.ID)
		}
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("decode command %s: %w", res.ID, err)
		}
		if rec.Bank != bank {
			return fmt.Errorf("bank %s answered command %s of bank %s", bank, res.ID, rec.Bank)
		}
		if rec.Result != Pending {
			if res.Result == ResultTimedOut {
				return nil
			}
			return c.event(tx, "late_result", rec, fmt.Sprintf("bank answered %s (%s) after the command was closed as %s", res.Result, res.Reason, rec.Result), now)
		}
		return c.close(tx, rec, res.Result, res.Reason, now)
	})
	if ch, ok := c.inflight[res.ID]; ok && err == nil {
		close(ch)
		delete(c.inflight, res.ID)
	}
	return err
}

// close sets the outcome, audits it and queues the fleet event, all in tx.
func (c *Commander) close(tx *bbolt.Tx, rec Record, result, detail string, now time.Time) error {
	rec.Result, rec.Detail, rec.FinishedAt = result, detail, now
	if err := put(tx.Bucket(bucketCommands), rec); err != nil {
		return err
	}
	return c.event(tx, result, rec, detail, now)
}

func (c *Commander) event(tx *bbolt.Tx, step string, rec Record, detail string, now time.Time) error {
	if err := c.audit(tx, step, rec.Request, detail, now); err != nil {
		return err
	}
	sev := sample.SeverityInfo
	if step != ResultDone {
		sev = sample.SeverityWarning
	}
	msg := fmt.Sprintf("%s %s/%s by %s: %s", rec.Cmd, rec.Bank, rec.Compartment, rec.Operator, step)
	if detail != "" {
		msg += " (" + detail + ")"
	}
	ev := sample.Event(rec.Bank, "locker_command", sev, msg, now, map[string]any{
		"correlation_id": rec.ID, "command": rec.Cmd, "compartment": rec.Compartment,
		"operator": rec.Operator, "reason": rec.Reason, "result": step,
	})
	line, err := ev.AppendLine(nil)
	if err != nil {
		return fmt.Errorf("encode command event: %w", err)
	}
	ob := tx.Bucket(bucketOutbox)
	seq, _ := ob.NextSequence()
	return ob.Put(key(seq), line)
}

func (c *Commander) audit(tx *bbolt.Tx, step string, req Request, detail string, now time.Time) error {
	b := tx.Bucket(bucketAudit)
	seq, _ := b.NextSequence()
	e := AuditEntry{Seq: seq, Time: now, Step: step, ID: req.ID, Bank: req.Bank, Cmd: req.Cmd,
		Compartment: req.Compartment, Operator: req.Operator, Reason: req.Reason, Detail: detail}
	v, _ := json.Marshal(e)
	return b.Put(key(seq), v)
}

// Flush hands queued command events to the sink and deletes them only
// after Append returned, so an event survives a buffer failure or restart.
func (c *Commander) flush(ctx context.Context) {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	var keys [][]byte
	var samples []sample.Sample
	_ = c.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			s, err := sample.ParseLine(v)
			if err == nil {
				samples = append(samples, s)
			}
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
	})
	if len(keys) == 0 {
		return
	}
	if err := c.sink.Append(ctx, samples...); err != nil {
		c.log.Warn("locker events not buffered yet, will retry", "n", len(samples), "err", err)
		return
	}
	_ = c.db.Update(func(tx *bbolt.Tx) error {
		for _, k := range keys {
			if err := tx.Bucket(bucketOutbox).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Run retries the event outbox until ctx is done.
func (c *Commander) Run(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var pruned time.Time
	for {
		c.flush(ctx)
		if now := time.Now(); now.Sub(pruned) >= pruneEvery {
			c.prune(now)
			pruned = now
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Get returns the record of a correlation id.
func (c *Commander) Get(id string) (Record, error) {
	var rec Record
	err := c.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketCommands).Get([]byte(id))
		if raw == nil {
			return fmt.Errorf("no command %q", id)
		}
		return json.Unmarshal(raw, &rec)
	})
	return rec, err
}

func put(b *bbolt.Bucket, rec Record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	return b.Put([]byte(rec.ID), v)
}

func key(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
