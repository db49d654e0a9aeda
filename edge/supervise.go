package edge

import (
	"context"
	"time"
)

// Lifecycle is told when the daemon serves, is alive, and stops: systemd's
// sd_notify in production (protocols/sdnotify), nothing by default.
type Lifecycle interface {
	Ready()
	Alive()
	Stopping()
	// Interval is how often to prove liveness; 0 disables the supervision loop.
	Interval() time.Duration
}

type noLifecycle struct{}

func (noLifecycle) Ready()                  {}
func (noLifecycle) Alive()                  {}
func (noLifecycle) Stopping()               {}
func (noLifecycle) Interval() time.Duration { return 0 }

// SetLifecycle installs l; call it before Run.
func (d *Daemon) SetLifecycle(l Lifecycle) { d.lc = l }

// supervise is the loop the watchdog watches. Each round trips through the
// buffer's committer (the part of the daemon a dead disk wedges, and without
// which nothing measured is kept); only when it answers does systemd hear
// WATCHDOG=1. A wedged committer wedges this loop, the pings stop and systemd
// restarts the service. It is deliberately not waited for on shutdown: a
// wedged check must not also wedge the exit.
func (d *Daemon) supervise(ctx context.Context) {
	every := d.lc.Interval()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.alive(); err != nil {
			if ctx.Err() == nil {
				d.log.Error("liveness check failed: not feeding the watchdog", "err", err)
			}
			continue
		}
		if ctx.Err() == nil {
			d.lc.Alive()
		}
	}
}
