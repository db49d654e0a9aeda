package ocpp

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	bolt "go.etcd.io/bbolt"
)

// The outbox makes a state change and the samples that report it one
// durable step: the charger record, its sessions and the session/event
// samples are written in one bbolt transaction, and the samples leave the
// outbox only once the buffer has taken them. A buffer that refuses an
// append delays them; it never loses them, and a charger that repeats its
// message (and finds the session already there) needs nothing emitted again.
// This is the discipline of the locker commands (protocols/mqtt/locker).
var bucketOutbox = []byte("ocpp_outbox")

// outboxRetry is how often the outbox is retried while the buffer refuses.
const outboxRetry = 5 * time.Second

// queued is what a commit put in the outbox, for the committer to deliver.
type queued struct {
	keys    [][]byte
	samples []sample.Sample
}

func (q *queued) add(o queued) {
	q.keys = append(q.keys, o.keys...)
	q.samples = append(q.samples, o.samples...)
}

// commit saves c, the sessions and queues the samples, atomically.
func (st *store) commit(c *charger, sessions []*Session, samples []sample.Sample) (queued, error) {
	cb, err := json.Marshal(c)
	if err != nil {
		return queued{}, fmt.Errorf("ocpp: encode charger %s: %w", c.ID, err)
	}
	lines := make([][]byte, 0, len(samples))
	for _, s := range samples {
		line, err := s.AppendLine(nil)
		if err != nil {
			return queued{}, fmt.Errorf("ocpp: encode %s sample of %s: %w", s.Measurement, c.ID, err)
		}
		lines = append(lines, line)
	}
	q := queued{samples: samples}
	err = st.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketChargers).Put([]byte(c.ID), cb); err != nil {
			return err
		}
		for _, ss := range sessions {
			b, err := json.Marshal(ss)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketSessions).Put([]byte(ss.key()), b); err != nil {
				return err
			}
		}
		ob := tx.Bucket(bucketOutbox)
		for _, line := range lines {
			seq, err := ob.NextSequence()
			if err != nil {
				return err
			}
			k := binary.BigEndian.AppendUint64(nil, seq)
			if err := ob.Put(k, line); err != nil {
				return err
			}
			q.keys = append(q.keys, k)
		}
		return nil
	})
	if err != nil {
		return queued{}, fmt.Errorf("ocpp: save %s: %w", c.ID, err)
	}
	c.profilesDirty = false // the whole charger, profiles included, is on disk
	return q, nil
}

// deliver hands what one commit queued to the buffer and takes it out of
// the outbox. It runs in the handler, outside every owner and lock, so one
// charger's slow append delays no one else. A refusal leaves the samples
// queued for runOutbox; the charger is answered either way, since they are
// durable. If runOutbox sends the same samples meanwhile, they land on the
// same points (Distinct), so a double delivery is harmless.
func (s *Service) deliver(q queued) {
	if len(q.keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sink.Append(ctx, q.samples...); err != nil {
		s.stats.inc("", "outbox_deferred")
		s.log.Warn("ocpp: buffer refused events; kept in the outbox for retry", "n", len(q.samples), "err", err)
		return
	}
	if err := s.store.deleteOutbox(q.keys); err != nil {
		s.log.Warn("ocpp: outbox delete failed; entries will be sent again", "err", err)
	}
}

func (st *store) deleteOutbox(keys [][]byte) error {
	return st.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// outboxBatch bounds one flush so a long outage's backlog goes out in
// pieces the buffer takes in one append each.
const outboxBatch = 500

// flushOutbox hands queued samples to the sink, oldest first, and deletes
// them once the sink took them. A redelivery after a crash between the two
// lands on the same points (the samples are Distinct), so it is harmless.
func (s *Service) flushOutbox(ctx context.Context) error {
	for {
		var keys [][]byte
		var samples []sample.Sample
		err := s.store.db.View(func(tx *bolt.Tx) error {
			cur := tx.Bucket(bucketOutbox).Cursor()
			for k, v := cur.First(); k != nil && len(keys) < outboxBatch; k, v = cur.Next() {
				keys = append(keys, append([]byte(nil), k...))
				smp, err := sample.ParseLine(v)
				if err != nil {
					// Cannot happen for lines we encoded; never let one
					// block the rest.
					s.log.Error("ocpp: dropping undecodable outbox line", "err", err)
					s.stats.inc("", "outbox_undecodable")
					continue
				}
				samples = append(samples, smp)
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		if err := s.sink.Append(ctx, samples...); err != nil {
			return fmt.Errorf("buffer unavailable: %w", err)
		}
		if err := s.store.deleteOutbox(keys); err != nil {
			return fmt.Errorf("ocpp: outbox delete: %w", err)
		}
		if len(keys) < outboxBatch {
			return nil
		}
	}
}

// runOutbox retries what deliver could not hand over, every outboxRetry,
// and once at start (entries left by a crash or an earlier outage).
func (s *Service) runOutbox(ctx context.Context) {
	t := time.NewTicker(outboxRetry)
	defer t.Stop()
	for {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.flushOutbox(fctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("ocpp: events wait in the outbox", "n", s.store.outboxLen(), "err", err)
		}
		s.flushProfiles()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// outboxLen is how many samples wait (health counters).
func (st *store) outboxLen() int {
	n := 0
	_ = st.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOutbox).Stats().KeyN
		return nil
	})
	return n
}
