package promtext

import (
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families added interleaved (as a loop over devices does) come out grouped
// under one header each, and the page parses as valid exposition.
func TestInterleavedFamiliesAreGrouped(t *testing.T) {
	var b strings.Builder
	w := New(&b)
	for _, dev := range []string{"inv1", "inv2"} {
		w.Gauge("polis_device_ok", "1 when healthy.", 1, "device", dev)
		w.Counter("polis_device_events_total", "Per-device counters.", 3, "device", dev, "counter", "polls")
	}
	w.Counter("polis_drops_total", "Samples dropped.", 1, "reason", `bad "x"`+"\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "# TYPE polis_device_ok gauge"); n != 1 {
		t.Fatalf("%d TYPE lines for polis_device_ok:\n%s", n, b.String())
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("invalid exposition: %v\n%s", err, b.String())
	}
	if len(fams["polis_device_ok"].GetMetric()) != 2 || len(fams["polis_device_events_total"].GetMetric()) != 2 {
		t.Fatalf("families: %v", fams)
	}
}

// A family whose samples disagree (gauge and counter under one name) is an
// error, not a page Prometheus would refuse.
func TestInconsistentFamilyIsAnError(t *testing.T) {
	var b strings.Builder
	w := New(&b)
	w.Gauge("polis_x", "x", 1, "a", "1")
	w.Counter("polis_x", "x", 1, "a", "2")
	if err := w.Flush(); err == nil {
		t.Fatalf("no error; wrote\n%s", b.String())
	}
}
