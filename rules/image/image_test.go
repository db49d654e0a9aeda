package image

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

type chargers []Charger

func (c chargers) Chargers() []Charger { return c }

func TestImageKeepsLatestTrustedValue(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	im := New(func() time.Time { return now }, chargers{{ChargerID: "CP01", Connector: 1, Status: "Charging"}}, nil)
	grid := func(w float64, at time.Time) sample.Sample {
		return sample.Sample{Measurement: "grid", Tags: map[string]string{"device": "meter"}, Fields: map[string]any{"power_w": w}, Time: at}
	}
	im.Update(grid(1000, now.Add(-2*time.Second)))
	im.Update(grid(900, now.Add(-5*time.Second)))                       // a late, older reading
	im.Update(grid(50000, now.Add(10*time.Minute)))                     // a clock in the future
	im.Update(sample.Event("meter", "device_ok", "info", "", now, nil)) // not state
	snap := im.Snapshot()
	w, at, ok := snap.Float("grid", "meter", "power_w")
	if !ok || w != 1000 || !at.Equal(now.Add(-2*time.Second)) {
		t.Fatalf("power_w = %v at %v (%v), want 1000 at -2s", w, at, ok)
	}
	if im.Untrusted() != 1 {
		t.Fatalf("untrusted = %d, want 1", im.Untrusted())
	}
	if _, ok := snap.Values["events"]; ok {
		t.Fatal("events stored as state")
	}
	if len(snap.Chargers) != 1 || snap.Chargers[0].Key() != "CP01/1" {
		t.Fatalf("chargers = %+v", snap.Chargers)
	}
	// The snapshot is a copy: later updates do not change it.
	im.Update(grid(2000, now))
	if w, _, _ := snap.Float("grid", "meter", "power_w"); w != 1000 {
		t.Fatalf("snapshot changed under the reader: %v", w)
	}
}

func TestImageSplitsSubDevices(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	im := New(func() time.Time { return now }, nil, nil)
	im.Update(sample.Sample{Measurement: "pv", Tags: map[string]string{"device": "inv1", "string": "1"}, Fields: map[string]any{"dc_power_w": 1500.0}, Time: now},
		sample.Sample{Measurement: "pv", Tags: map[string]string{"device": "inv1"}, Fields: map[string]any{"ac_power_w": int64(2900)}, Time: now})
	snap := im.Snapshot()
	if v, _, ok := snap.Float("pv", "inv1.1", "dc_power_w"); !ok || v != 1500 {
		t.Fatalf("string 1: %v %v", v, ok)
	}
	if v, _, ok := snap.Float("pv", "inv1", "ac_power_w"); !ok || v != 2900 {
		t.Fatalf("inverter: %v %v", v, ok)
	}
}
