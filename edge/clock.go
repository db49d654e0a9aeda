package edge

import (
	"context"
	"sync"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// An office box without a battery-backed clock boots at 1970 and keeps
// that time until NTP sets it. Samples the edge stamps meanwhile (sensor
// readings, its own telemetry) would be refused by the buffer as older
// than sample.MinTime, and the devices would get no acknowledgement. So
// while the clock is unset, such samples are held here with the monotonic
// instant they arrived, and re-stamped once the clock is sane:
//
//	time = wall now − (monotonic now − monotonic at arrival) + (sample time − wall at arrival)
//
// Samples that carry a plausible device time (at or after sample.MinTime)
// go straight to the buffer: the device's clock is the better one.
// Held samples live in memory (at most maxHeld; beyond that they are
// counted as dropped "clock_unset"): a power cut before NTP loses them.
const maxHeld = 100_000

// DropClockUnset counts samples that could not be held while the clock was unset.
const DropClockUnset = "clock_unset"

// clockSource is the wall clock and a monotonic one (tests drive both).
type clockSource interface {
	Now() time.Time
	Mono() time.Duration
}

type systemClock struct{ start time.Time }

func (c systemClock) Now() time.Time      { return time.Now() }
func (c systemClock) Mono() time.Duration { return time.Since(c.start) } // monotonic reading

// clockSane reports whether t can be a real current time.
func clockSane(t time.Time) bool { return !t.Before(sample.MinTime) }

type heldSample struct {
	s      sample.Sample
	mono   time.Duration // monotonic instant of arrival
	wallAt time.Time     // the (wrong) wall clock at arrival
}

// clockHold keeps samples stamped by an unset clock.
type clockHold struct {
	clock clockSource
	mu    sync.Mutex
	held  []heldSample
}

// split returns the samples that can go to the buffer now, holding those
// stamped before sample.MinTime while the clock is unset. It returns how
// many it could not hold.
func (h *clockHold) split(samples []sample.Sample) (now []sample.Sample, lost int) {
	wall := h.clock.Now()
	if clockSane(wall) {
		return samples, 0
	}
	mono := h.clock.Mono()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range samples {
		if clockSane(s.Time) {
			now = append(now, s)
			continue
		}
		if len(h.held) >= maxHeld {
			lost++
			continue
		}
		h.held = append(h.held, heldSample{s: s, mono: mono, wallAt: wall})
	}
	return now, lost
}

// release re-stamps and returns the held samples once the clock is sane.
func (h *clockHold) release() []sample.Sample {
	wall := h.clock.Now()
	if !clockSane(wall) {
		return nil
	}
	mono := h.clock.Mono()
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	out := make([]sample.Sample, 0, len(held))
	for _, hs := range held {
		s := hs.s
		s.Time = wall.Add(-(mono - hs.mono)).Add(s.Time.Sub(hs.wallAt))
		out = append(out, s)
	}
	return out
}

// pending reports how many samples wait for the clock.
func (h *clockHold) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// restore puts samples back (the buffer refused them; retried later).
func (h *clockHold) restore(ss []sample.Sample, wall time.Time, mono time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range ss {
		h.held = append(h.held, heldSample{s: s, mono: mono, wallAt: wall})
	}
}

// releaseHeld hands the held samples to the buffer once the clock is sane;
// the daemon calls it every second.
func (s *officeSink) releaseHeld(ctx context.Context) error {
	out := s.hold.release()
	if len(out) == 0 {
		return nil
	}
	if err := s.buf.Append(ctx, out...); err != nil {
		// Already re-stamped: hold them as arriving now, at their times.
		s.hold.restore(out, s.hold.clock.Now(), s.hold.clock.Mono())
		return err
	}
	return nil
}

// watchClock releases held samples once the clock is set.
func (d *Daemon) watchClock(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := d.sink.releaseHeld(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("samples held for the clock not buffered yet", "err", err)
			}
		}
	}
}
