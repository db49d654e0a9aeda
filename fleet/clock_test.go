package fleet

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/ingest"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// An office whose clock runs an hour (or a century) ahead must not fill
// InfluxDB with points from the future: the fleet refuses them beyond its
// tolerance with a counted reason and names the office whose clock is off,
// until that office's samples are sane again.
func TestFleetRefusesSamplesFromTheFutureAndNamesTheOffice(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	cfg := testConfig(in)
	cfg.Ingest.ClockTolerance = time.Minute
	f := startFleet(t, cfg)
	o := mustOffice(t, f.Addrs().MQTT, "10001", "secret-a")

	now := time.Now()
	var lines []byte
	for _, ts := range []time.Time{now.Add(-time.Hour), now.Add(30 * time.Second), now.Add(time.Hour), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)} {
		s := sample.Sample{Measurement: "clk", Tags: map[string]string{sample.TagDevice: "inv1"}, Fields: map[string]any{"W": 1.0}, Time: ts}
		lines, _ = s.AppendLine(lines)
	}
	o.sendBatch(t, uplink.Batch{Office: "10001", Seq: 1, Last: 4, Count: 4, Lines: lines})
	a := o.waitAck(t, 1)
	if a.Status != uplink.AckOK || a.Accepted != 2 || a.Reasons[ingest.ReasonClockAhead] != 2 {
		t.Fatalf("ack %+v: want the two samples ahead of the tolerance refused as %s", a, ingest.ReasonClockAhead)
	}
	if n := countRows(t, in, "clk", ""); n != 2 {
		t.Fatalf("InfluxDB holds %d rows, want the 2 plausible ones", n)
	}
	ahead := f.Status().ClockAhead["10001"]
	if ahead < 3000 {
		t.Fatalf("status does not name office 10001's clock as ahead: %v", f.Status().ClockAhead)
	}
	var page bytes.Buffer
	if err := f.WriteMetrics(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `polis_fleet_office_clock_ahead_seconds{office="10001"}`) ||
		!strings.Contains(page.String(), `reason="clock_ahead"`) {
		t.Fatalf("metrics lack the skewed office or the reason:\n%s", page.String())
	}

	// Clock fixed: the office leaves the list.
	o.sendBatch(t, batch(t, "10001", 5, 3))
	if a := o.waitAck(t, 5); a.Accepted != 3 {
		t.Fatalf("ack %+v", a)
	}
	if _, still := f.Status().ClockAhead["10001"]; still {
		t.Fatal("office still listed with a skewed clock after a sane batch")
	}
}
