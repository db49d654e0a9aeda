package sample

import (
	"testing"
	"time"
)

func TestDistinctSeparatesEventsAndKeepsRedeliveriesIdempotent(t *testing.T) {
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	bits := []string{"GROUND_FAULT", "GRID_DISCONNECT", "UNDER_FREQUENCY", "AC_UNDER_VOLT", "OVER_TEMP"}
	seen := map[time.Time]string{}
	for _, b := range bits {
		ev := Event("inv1", "inverter_event", SeverityWarning, b, at, nil).Distinct(b)
		if other, dup := seen[ev.Time]; dup {
			t.Fatalf("%s and %s share timestamp %s: InfluxDB would keep one", b, other, ev.Time)
		}
		seen[ev.Time] = b
		if d := ev.Time.Sub(at); d < 0 || d >= time.Millisecond {
			t.Fatalf("%s shifted by %s, want [0, 1ms)", b, d)
		}
		again := Event("inv1", "inverter_event", SeverityWarning, b, at, nil).Distinct(b)
		if !again.Time.Equal(ev.Time) {
			t.Fatalf("redelivery of %s moved from %s to %s: not idempotent", b, ev.Time, again.Time)
		}
	}
	// A device time with sub-millisecond noise must not change the point either.
	noisy := Event("inv1", "inverter_event", SeverityWarning, "x", at.Add(300*time.Microsecond), nil).Distinct("x")
	clean := Event("inv1", "inverter_event", SeverityWarning, "x", at, nil).Distinct("x")
	if !noisy.Time.Equal(clean.Time) {
		t.Fatalf("same event, same millisecond: %s vs %s", noisy.Time, clean.Time)
	}
}
