//go:build bench

package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/fleetsim"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestBenchNATSClusterScaleOut measures what fleet instances add in cluster
// mode. Offices stay connected to a 3-node NATS cluster while no fleet
// instance runs, so their batches pile up in the JetStream work queue; then
// one instance (and, for a second backlog, two) drains it. Throughput is
// lines acked per second of drain; the ratio says how close to linear a
// second instance is on this machine.
//
//	POLIS_BENCH_OFFICES=2000 POLIS_BENCH_BACKLOG=60s \
//	  go test -tags bench -run TestBenchNATSClusterScaleOut -v -timeout 60m ./fleet/
func TestBenchNATSClusterScaleOut(t *testing.T) {
	n := envInt("POLIS_BENCH_OFFICES", 2000)
	pile := envDuration("POLIS_BENCH_BACKLOG", 60*time.Second)
	in := testserver.Influx(t)
	sc := fleetsim.Config{Offices: n, ConnectRate: 500, AckTimeout: 30 * time.Minute, Window: 1000,
		Password: func(id string) string { return "office-secret-" + id }}
	offices, nodes := simNATSCluster(t, &sc)
	// One instance first creates the stream and consumer, then stops: from
	// then on the stream captures telemetry with nobody consuming it.
	natsFleet(t, in, nodes, offices, "setup")()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := fleetsim.Start(ctx, sc)
	testserver.WaitForWithin(t, 10*time.Minute, "every office connected", func() bool { return sim.Report().Connected == int64(n) })
	var rates []float64
	for round, instances := range []int{1, 2} {
		if round > 0 {
			sim.Resume()
		}
		time.Sleep(pile)
		sim.Pause()
		before := sim.Report()
		backlog := before.Pending
		start := time.Now()
		var stops []func()
		for i := range instances {
			stops = append(stops, natsFleet(t, in, nodes, offices, string(rune('a'+i))))
		}
		testserver.WaitForWithin(t, 30*time.Minute, "the backlog drained", func() bool { return sim.Report().Pending == 0 })
		took := time.Since(start)
		for _, stop := range stops {
			stop()
		}
		rate := float64(backlog) / took.Seconds()
		rates = append(rates, rate)
		t.Logf("%d instance(s): %d lines from %d offices drained in %s: %.0f lines/s", instances, backlog, n, took.Round(time.Millisecond), rate)
	}
	r := sim.Report()
	if rows := simRows(t, in); int64(rows) != r.Measured || r.Rejected != 0 {
		t.Fatalf("measured %d lines, InfluxDB holds %d rows, rejected %d", r.Measured, rows, r.Rejected)
	}
	t.Logf("2 instances / 1 instance = %.2f", rates[1]/rates[0])
}
