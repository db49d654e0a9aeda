package aggregate

import (
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func pv(dev string, at time.Duration, power, energy float64, state string) sample.Sample {
	return sample.Sample{Measurement: "pv", Tags: map[string]string{"office": "10001", "device": dev}, Time: t0.Add(at),
		Fields: map[string]any{"power_w": power, "energy_wh": energy, "state": state}}
}

func TestWindowPointHasMeanMinMaxAndExactCounters(t *testing.T) {
	a := New([]Rule{{Measurement: "pv", Every: 10 * time.Second}})
	in := []sample.Sample{
		pv("inv1", 1*time.Second, 1000, 5000, "mppt"),
		pv("inv1", 5*time.Second, 3000, 5004, "throttled"),
		pv("inv1", 3*time.Second, 2000, 5002, "mppt"), // out of order: not the last value
		{Measurement: "grid", Tags: map[string]string{"device": "meter"}, Time: t0, Fields: map[string]any{"power_w": 1.0}},
		{Measurement: Raw, Tags: map[string]string{"device": "inv1"}, Time: t0, Fields: map[string]any{"kind": "fault"}},
	}
	raw := a.Add(in)
	if len(raw) != 2 || raw[0].Measurement != "grid" || raw[1].Measurement != Raw {
		t.Fatalf("passed through: %+v", raw)
	}
	if got := a.Due(t0.Add(10*time.Second), 2*time.Second); len(got) != 0 {
		t.Fatalf("window emitted before its grace: %+v", got)
	}
	got := a.Due(t0.Add(12*time.Second), 2*time.Second)
	if len(got) != 1 {
		t.Fatalf("points: %+v", got)
	}
	p := got[0]
	want := map[string]any{"power_w_mean": 2000.0, "power_w_min": 1000.0, "power_w_max": 3000.0,
		"energy_wh": 5004.0, "state": "throttled", FieldSamples: int64(3)}
	for k, v := range want {
		if p.Fields[k] != v {
			t.Errorf("field %s = %v, want %v (point %+v)", k, p.Fields[k], v, p.Fields)
		}
	}
	if len(p.Fields) != len(want) {
		t.Errorf("fields %v, want exactly %v", p.Fields, want)
	}
	if !p.Time.Equal(t0) || p.Tags[TagAgg] != "10s" || p.Tags["device"] != "inv1" || p.Tags["office"] != "10001" {
		t.Errorf("point time %s tags %v", p.Time, p.Tags)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	if c := a.Counts(); c.Folded != 3 || c.Points != 1 || c.Late != 0 {
		t.Errorf("counts %+v", c)
	}
}

// TestSeriesAndWindowsStayApart: two devices and two windows make four
// points; a device-specific rule overrides the measurement's.
func TestSeriesAndWindowsStayApart(t *testing.T) {
	a := New([]Rule{{Measurement: "pv", Every: 10 * time.Second}, {Measurement: "pv", Device: "inv2", Every: time.Minute}})
	for i := range 20 { // 20 s of 1 Hz samples from each inverter
		a.Add([]sample.Sample{pv("inv1", time.Duration(i)*time.Second, float64(i), 0, "mppt"), pv("inv2", time.Duration(i)*time.Second, 1, 0, "mppt")})
	}
	pts := a.Due(t0.Add(time.Hour), 0)
	byDev := map[string][]sample.Sample{}
	for _, p := range pts {
		byDev[p.Tags["device"]] = append(byDev[p.Tags["device"]], p)
	}
	if len(byDev["inv1"]) != 2 || len(byDev["inv2"]) != 1 {
		t.Fatalf("points per device: inv1 %d inv2 %d", len(byDev["inv1"]), len(byDev["inv2"]))
	}
	if m := byDev["inv1"][1].Fields["power_w_mean"]; m != 14.5 {
		t.Errorf("second window mean %v, want 14.5", m)
	}
	if byDev["inv2"][0].Tags[TagAgg] != "1m" || byDev["inv2"][0].Fields[FieldSamples] != int64(20) {
		t.Errorf("inv2 point %+v", byDev["inv2"][0])
	}
}

// TestLateSampleGoesRawInsteadOfOverwriting: once a window's point is out, a
// sample for that window must not produce a second point with the same
// time and tags (InfluxDB would keep only the last).
func TestLateSampleGoesRawInsteadOfOverwriting(t *testing.T) {
	a := New([]Rule{{Measurement: "pv", Every: 10 * time.Second}})
	a.Add([]sample.Sample{pv("inv1", time.Second, 1, 1, "mppt")})
	if len(a.Due(t0.Add(time.Minute), 0)) != 1 {
		t.Fatal("no point")
	}
	raw := a.Add([]sample.Sample{pv("inv1", 2*time.Second, 2, 2, "mppt"), pv("inv1", 11*time.Second, 3, 3, "mppt")})
	if len(raw) != 1 || raw[0].Fields["power_w"] != 2.0 {
		t.Fatalf("late sample not passed raw: %+v", raw)
	}
	if c := a.Counts(); c.Late != 1 || c.Folded != 2 {
		t.Fatalf("counts %+v", c)
	}
	if pts := a.Due(time.Time{}, 0); len(pts) != 1 || !pts[0].Time.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("a clean stop flushes the open window: %+v", pts)
	}
}

func TestRulesChangeAtRunTime(t *testing.T) {
	a := New(nil)
	if raw := a.Add([]sample.Sample{pv("inv1", 0, 1, 1, "mppt")}); len(raw) != 1 {
		t.Fatal("no rules: everything raw")
	}
	a.SetRules([]Rule{{Measurement: "pv", Every: time.Minute}})
	if raw := a.Add([]sample.Sample{pv("inv1", time.Second, 1, 1, "mppt")}); len(raw) != 0 {
		t.Fatal("rule not applied")
	}
	a.SetRules(nil)
	if raw := a.Add([]sample.Sample{pv("inv1", 2*time.Second, 1, 1, "mppt")}); len(raw) != 1 {
		t.Fatal("rule not removed")
	}
	if pts := a.Due(time.Time{}, 0); len(pts) != 1 || pts[0].Fields[FieldSamples] != int64(1) {
		t.Fatalf("the window opened under the old rule still ends: %+v", pts)
	}
}

func TestValidate(t *testing.T) {
	err := Validate([]Rule{
		{Measurement: "pv", Every: 10 * time.Second},
		{Measurement: "", Every: time.Minute},
		{Measurement: Raw, Every: time.Minute},
		{Measurement: "grid", Every: 7 * time.Second},
		{Measurement: "pv", Every: time.Minute},
	})
	for _, want := range []string{"aggregate[1].measurement", "aggregate[2].measurement: events are always sent raw",
		"aggregate[3].every", "aggregate[4]: pv/\"\" listed twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	if err := Validate([]Rule{{Measurement: "pv", Every: 10 * time.Second}, {Measurement: "env", Every: time.Minute}}); err != nil {
		t.Error(err)
	}
}

// A finished window waits the office's send delay on top of the grace, and
// a clean stop does not wait for it.
func TestWindowWaitsTheOfficesSendDelay(t *testing.T) {
	a := New([]Rule{{Measurement: "pv", Every: 10 * time.Second}})
	a.SetSendDelay(func(every time.Duration) time.Duration { return every / 4 })
	a.Add([]sample.Sample{pv("inv1", time.Second, 1000, 5000, "mppt")})
	if got := a.Due(t0.Add(14*time.Second), 2*time.Second); len(got) != 0 {
		t.Fatalf("window sent 4 s after its end, before grace 2 s + delay 2.5 s: %+v", got)
	}
	if got := a.Due(t0.Add(14500*time.Millisecond), 2*time.Second); len(got) != 1 {
		t.Fatalf("window not sent after grace + delay: %+v", got)
	}
	a.Add([]sample.Sample{pv("inv1", 11*time.Second, 1000, 5001, "mppt")})
	if got := a.Due(time.Time{}, 0); len(got) != 1 {
		t.Fatalf("a clean stop must flush the open window at once: %+v", got)
	}
}
