package testserver

import (
	"testing"
	"time"
)

// WaitTimeout bounds WaitFor: generous, because a loaded 2-core CI box can
// be slow, and a condition that holds returns at once anyway.
const WaitTimeout = 30 * time.Second

// WaitFor is the project's one way for a test to wait for a condition set
// by other goroutines or processes: it polls cond (from 5 ms backing off to
// 100 ms) and fails the test naming what it waited for. Tests never sleep
// a fixed time to synchronise.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitForWithin(t, WaitTimeout, what, cond)
}

// WaitForWithin is WaitFor with an explicit bound, for conditions that
// legitimately take long (a daemon's back-off, an InfluxDB restart).
func WaitForWithin(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}
