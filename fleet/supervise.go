package fleet

import (
	"context"
	"fmt"
	"time"
)

// Lifecycle is told when the fleet serves, is alive, and stops: systemd's
// sd_notify in production (protocols/sdnotify), nothing by default.
type Lifecycle interface {
	Ready()
	Alive()
	Stopping()
	Interval() time.Duration // how often to prove liveness; 0 disables it
}

type noLifecycle struct{}

func (noLifecycle) Ready()                  {}
func (noLifecycle) Alive()                  {}
func (noLifecycle) Stopping()               {}
func (noLifecycle) Interval() time.Duration { return 0 }

// SetLifecycle installs l; call it before Run.
func (f *Fleet) SetLifecycle(l Lifecycle) { f.lc = l }

func (f *Fleet) lifecycle() Lifecycle {
	if f.lc == nil {
		return noLifecycle{}
	}
	return f.lc
}

// supervise feeds the watchdog only while the ingest pipeline works: the
// registry lock (taken by every batch and every API call) must be free, and
// while batches are queued the workers must have finished at least one since
// the last round. Even with InfluxDB down a worker finishes a batch (as retry)
// within influx.timeout, far below the interval, so only wedged workers stop
// the pings.
func (f *Fleet) supervise(ctx context.Context) {
	every := f.lifecycle().Interval()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := f.batchesDone()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		done := f.batchesDone()
		err := f.alive(last, done)
		last = done
		if err != nil {
			f.log.Error("liveness check failed: not feeding the watchdog", "err", err)
			continue
		}
		if ctx.Err() == nil {
			f.lifecycle().Alive()
		}
	}
}

func (f *Fleet) batchesDone() uint64 {
	m := f.metrics
	return m.batchesOK.Load() + m.batchesRejected.Load() + m.batchesRetry.Load()
}

func (f *Fleet) alive(before, now uint64) error {
	f.reg.Counts() // blocks if the registry lock is wedged
	if queued := len(f.queue); queued > 0 && now == before {
		return fmt.Errorf("ingest: %d batches queued and none finished in the last interval", queued)
	}
	return nil
}
