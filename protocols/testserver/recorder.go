package testserver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// Recorder is an in-memory Sink for driver tests: it stands in for the
// edge's durable buffer, refuses invalid samples as the buffer does, and can
// be told to fail like a full disk. The zero value is ready to use.
type Recorder struct {
	mu      sync.Mutex
	samples []sample.Sample
	fail    bool
	changed chan struct{}
}

// ErrRecorderFull is what a failing Recorder returns.
var ErrRecorderFull = errors.New("buffer full")

// Append stores the valid samples and, like the buffer, reports the invalid
// ones (those that cannot be encoded as line protocol) with an error
// wrapping sample.ErrInvalid; or, when told to fail, refuses all of them.
func (r *Recorder) Append(_ context.Context, ss ...sample.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return ErrRecorderFull
	}
	var invalid error
	for _, s := range ss {
		if _, err := s.AppendLine(nil); err != nil {
			invalid = err
			continue
		}
		r.samples = append(r.samples, s)
	}
	if invalid != nil {
		return invalid
	}
	select {
	case r.signal() <- struct{}{}:
	default:
	}
	return nil
}

// signal is the channel that wakes WaitFor; r.mu must be held.
func (r *Recorder) signal() chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{}, 1)
	}
	return r.changed
}

// SetFail makes Append fail (true) or work again (false).
func (r *Recorder) SetFail(v bool) {
	r.mu.Lock()
	r.fail = v
	r.mu.Unlock()
}

// Find returns the stored samples matching pred, oldest first.
func (r *Recorder) Find(pred func(sample.Sample) bool) []sample.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sample.Sample
	for _, s := range r.samples {
		if pred(s) {
			out = append(out, s)
		}
	}
	return out
}

// WaitFor waits, generously, until at least n stored samples match pred.
func (r *Recorder) WaitFor(t testing.TB, what string, n int, pred func(sample.Sample) bool) []sample.Sample {
	t.Helper()
	r.mu.Lock()
	changed := r.signal()
	r.mu.Unlock()
	deadline := time.After(20 * time.Second)
	for {
		if got := r.Find(pred); len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %d× %s; have %d", n, what, len(r.Find(pred)))
		}
	}
}
