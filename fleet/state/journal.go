package state

import (
	"fmt"
	"sync/atomic"
	"time"
)

var seq atomic.Uint32

// TimeKey is a key that sorts by t (then by creation order within one
// process), so journals (audit, alarm history) scan in time order and
// retention deletes a prefix.
func TimeKey(t time.Time) string {
	return fmt.Sprintf("%016x%08x", uint64(t.UnixNano()), seq.Add(1))
}

// TimeFrom is the smallest TimeKey at or after t, for Scan's from.
func TimeFrom(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%016x", uint64(t.UnixNano()))
}

// PruneBefore deletes the journal entries of bucket older than t and
// returns how many. Keys must be TimeKeys.
func PruneBefore(s Store, bucket string, t time.Time) (int, error) {
	limit := TimeFrom(t)
	var old []string
	err := s.Scan(bucket, "", "", func(k string, _ []byte) error {
		if k >= limit {
			return ErrStop
		}
		old = append(old, k)
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range old {
		if err := s.Delete(bucket, k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}
