package mqtt

import (
	"testing"
	"time"
)

// Two deposits in the same second of the controller's clock are two
// points (InfluxDB keeps one per series and time); a redelivery of one of
// them lands on that same point.
func TestLockerEventsInOneSecondAreDistinctPoints(t *testing.T) {
	rec := newRecorder()
	s := startService(t, officeConfig(), rec, openDB(t))
	bank := mustDial(t, brokerURL(s), "bank1", "bank-pass")
	for _, p := range []string{
		`{"v":1,"id":"ev-1","type":"deposit","compartment":"A01","time":"2025-06-01T10:00:00Z"}`,
		`{"v":1,"id":"ev-2","type":"deposit","compartment":"A02","time":"2025-06-01T10:00:00Z"}`,
		`{"v":1,"id":"ev-1","type":"deposit","compartment":"A01","time":"2025-06-01T10:00:00Z"}`,
	} {
		publish(t, bank, "polis/locker/v1/bank1/event", []byte(p))
	}
	evs := rec.WaitFor(t, "deposits", 3, event("bank1", "locker_deposit"))
	times := map[string]time.Time{}
	for _, e := range evs {
		id := e.Fields["event_id"].(string)
		if prev, ok := times[id]; ok && !prev.Equal(e.Time) {
			t.Errorf("redelivery of %s at %v, first at %v: not idempotent", id, e.Time, prev)
		}
		times[id] = e.Time
		if e.Time.Truncate(time.Second) != time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC) {
			t.Errorf("%s at %v, not the controller's second", id, e.Time)
		}
	}
	if times["ev-1"].Equal(times["ev-2"]) {
		t.Fatalf("two deposits share the point %v: InfluxDB would keep one", times["ev-1"])
	}
}

// A correct device time is kept while the edge's clock is still at 1970
// (no RTC, before NTP), and a device time too far ahead of a sane edge
// clock is not trusted.
func TestLockerEventTimeWithUnsetEdgeClock(t *testing.T) {
	device := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	boot := time.Unix(90, 0) // the edge's clock right after boot without RTC
	if got := eventTime(device, boot); !got.Equal(device) {
		t.Errorf("edge at 1970: event time %v, want the device's %v", got, device)
	}
	sane := device.Add(-time.Minute)
	if got := eventTime(device, sane); !got.Equal(device) {
		t.Errorf("device a minute ahead: %v, want %v", got, device)
	}
	if got := eventTime(device.Add(time.Hour), sane); !got.Equal(sane) {
		t.Errorf("device an hour ahead: %v, want the edge's %v", got, sane)
	}
	if got := eventTime(time.Unix(5, 0), sane); !got.Equal(sane) {
		t.Errorf("device at 1970: %v, want the edge's %v", got, sane)
	}
}
