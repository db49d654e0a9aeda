package uplink

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/polis-edge/polis/edge/buffer"
)

// failingDeletes is the real buffer whose first deletes fail, as they did
// with ENOSPC on a full disk.
type failingDeletes struct {
	*buffer.Buffer
	fail atomic.Int64
}

func (f *failingDeletes) Delete(first, last uint64) (int, error) {
	if f.fail.Add(-1) >= 0 {
		return 0, errors.New("write buffer.db: no space left on device")
	}
	return f.Buffer.Delete(first, last)
}

// Samples the fleet acked are in InfluxDB: a delete that fails must be
// retried until it succeeds, not logged and forgotten (the buffer would hold
// them forever and its oldest-unsent age would grow without end).
func TestFailedDeletesOfAckedRangesAreRetried(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	store := &failingDeletes{Buffer: openBuffer(t)}
	store.fail.Store(3)
	appendN(t, store.Buffer, 0, 100) // one batch
	u := New(options(f.addr), store)
	run(t, u)
	eventually(t, "the acked batch deleted despite failing deletes", func() bool {
		return f.distinct() == 100 && store.Stats().Count == 0
	})
	if got := u.Stats().DeleteErrors; got != 3 {
		t.Fatalf("delete errors = %d, want the 3 injected", got)
	}
}
