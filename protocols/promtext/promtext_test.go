package promtext

import (
	"strings"
	"testing"
)

func TestWriterHeadersOncePerName(t *testing.T) {
	var b strings.Builder
	w := New(&b)
	w.Counter("polis_drops_total", "Samples dropped.", 3, "reason", "buffer_full")
	w.Counter("polis_drops_total", "Samples dropped.", 1, "reason", `bad "x"`)
	w.Gauge("polis_up", "Up.", 1)
	want := `# HELP polis_drops_total Samples dropped.
# TYPE polis_drops_total counter
polis_drops_total{reason="buffer_full"} 3
polis_drops_total{reason="bad \"x\""} 1
# HELP polis_up Up.
# TYPE polis_up gauge
polis_up 1
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
