package edge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/aggregate"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestAggregatedMeasurementReachesInfluxDBAsWindows: with pv aggregated over
// 10 s, a minute of 1 Hz samples becomes six points in InfluxDB with mean,
// min and max, the exact energy counter and the raw count; grid stays raw;
// the window still open at a clean stop is sent after the restart.
func TestAggregatedMeasurementReachesInfluxDBAsWindows(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	cfg := edgeConfig(t, dataDir(t), f.Addrs().MQTT)
	cfg.Aggregate = []aggregate.Rule{{Measurement: "pv", Every: 10 * time.Second}}
	d, stop := startEdge(t, cfg)
	pv := func(at time.Time, i int) sample.Sample {
		return sample.Sample{Measurement: "pv", Tags: map[string]string{sample.TagDevice: "inv1"}, Time: at,
			Fields: map[string]any{"power_w": float64(1000 + i), "energy_wh": float64(50000 + i)}}
	}
	var batch []sample.Sample
	for i := range 60 {
		at := e2eBase.Add(time.Duration(i) * time.Second)
		batch = append(batch, pv(at, i), sample.Sample{Measurement: "grid", Tags: map[string]string{sample.TagDevice: "meter"},
			Time: at, Fields: map[string]any{"power_w": float64(i)}})
	}
	if err := d.Sink().Append(context.Background(), batch...); err != nil {
		t.Fatal(err)
	}
	count := func(q string) int { return countOf(t, in, q) }
	waitFor(t, 60*time.Second, "six pv windows and 60 raw grid rows", func() bool {
		return count(`SELECT count("power_w_mean") FROM "pv" WHERE "agg"='10s'`) == 6 && count(`SELECT count("power_w") FROM "grid"`) == 60
	})
	if n := count(`SELECT count("power_w") FROM "pv"`); n != 0 {
		t.Fatalf("%d raw pv rows reached InfluxDB", n)
	}
	series, err := in.Query(`SELECT "power_w_mean", "power_w_min", "power_w_max", "energy_wh", "agg_samples" FROM "pv" WHERE "agg"='10s' ORDER BY time ASC LIMIT 1 OFFSET 2`)
	if err != nil || len(series) == 0 || len(series[0].Values) != 1 {
		t.Fatalf("third window: %v %v", series, err)
	}
	// Samples 20..29: power 1020..1029, energy 50020..50029.
	if got := fmt.Sprint(series[0].Values[0][1:]); got != "[1024.5 1020 1029 50029 10]" {
		t.Fatalf("third window = %s, want mean 1024.5 min 1020 max 1029 energy 50029 samples 10", got)
	}

	// A window still open at a clean stop is buffered then, and sent later.
	now := time.Now()
	if err := d.Sink().Append(context.Background(), pv(now, 1), pv(now.Add(time.Millisecond), 2)); err != nil {
		t.Fatal(err)
	}
	stop()
	d, _ = startEdge(t, cfg)
	waitFor(t, 60*time.Second, "the open window after the restart", func() bool {
		return count(`SELECT sum("agg_samples") FROM "pv" WHERE "agg"='10s'`) == 62
	})
	if c := d.sink.agg.Counts(); c.Folded != 0 {
		t.Fatalf("the restarted daemon folded %d samples from nowhere", c.Folded)
	}
}
