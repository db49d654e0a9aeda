package locker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Retention bounds the command and audit buckets, which otherwise grow
// with every command for the life of the office.
const (
	// Retention is how long finished commands and audit entries are kept.
	// A correlation id older than this may be used again.
	Retention = 90 * 24 * time.Hour
	// MaxAuditEntries caps the audit trail whatever its age (oldest go first).
	MaxAuditEntries = 100_000
	// MaxAuditPage is the most entries one Audit call returns.
	MaxAuditPage = 1000
	pruneEvery   = time.Hour
	pruneBatch   = 10_000 // entries deleted per transaction, so no write blocks long
)

// Audit returns audit entries oldest first: all steps of one correlation
// id, or (id "") the most recent MaxAuditPage entries. AuditPage pages
// through the whole trail.
func (c *Commander) Audit(id string) ([]AuditEntry, error) {
	if id != "" {
		var out []AuditEntry
		err := c.db.View(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
				var e AuditEntry
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("decode audit entry: %w", err)
				}
				if e.ID == id && len(out) < MaxAuditPage {
					out = append(out, e)
				}
				return nil
			})
		})
		return out, err
	}
	var out []AuditEntry
	err := c.db.View(func(tx *bbolt.Tx) error {
		cur := tx.Bucket(bucketAudit).Cursor()
		for k, v := cur.Last(); k != nil && len(out) < MaxAuditPage; k, v = cur.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// AuditPage returns up to limit entries (at most MaxAuditPage) with a
// sequence number above after, oldest first, and the cursor for the next
// page (0 when there is none).
func (c *Commander) AuditPage(after uint64, limit int) ([]AuditEntry, uint64, error) {
	if limit <= 0 || limit > MaxAuditPage {
		limit = MaxAuditPage
	}
	var out []AuditEntry
	var next uint64
	err := c.db.View(func(tx *bbolt.Tx) error {
		cur := tx.Bucket(bucketAudit).Cursor()
		for k, v := cur.Seek(key(after + 1)); k != nil; k, v = cur.Next() {
			if len(out) == limit {
				next = out[len(out)-1].Seq
				return nil
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, next, err
}

// prune deletes audit entries older than Retention or beyond
// MaxAuditEntries, and finished commands older than Retention.
func (c *Commander) prune(now time.Time) {
	cutoff := now.Add(-Retention)
	for {
		n, err := c.pruneBatch(cutoff)
		if err != nil {
			c.log.Warn("locker retention", "err", err)
			return
		}
		if n < pruneBatch {
			return
		}
	}
}

func (c *Commander) pruneBatch(cutoff time.Time) (int, error) {
	deleted := 0
	err := c.db.Update(func(tx *bbolt.Tx) error {
		ab := tx.Bucket(bucketAudit)
		excess := ab.Stats().KeyN - MaxAuditEntries
		var old [][]byte
		cur := ab.Cursor()
		for k, v := cur.First(); k != nil && len(old) < pruneBatch; k, v = cur.Next() {
			var e AuditEntry
			if json.Unmarshal(v, &e) == nil && len(old) >= excess && !e.Time.Before(cutoff) {
				break // keys are in time order: the rest is newer
			}
			old = append(old, bytes.Clone(k))
		}
		for _, k := range old { // not cursor deletes: those skip entries
			if err := ab.Delete(k); err != nil {
				return err
			}
		}
		deleted = len(old)
		cb := tx.Bucket(bucketCommands)
		old = old[:0]
		_ = cb.ForEach(func(k, v []byte) error {
			var r Record
			if json.Unmarshal(v, &r) == nil && r.Result != Pending && !r.FinishedAt.IsZero() && r.FinishedAt.Before(cutoff) &&
				len(old) < pruneBatch-deleted {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range old {
			if err := cb.Delete(k); err != nil {
				return err
			}
		}
		deleted += len(old)
		return nil
	})
	return deleted, err
}
