//go:build bench

package fleet

import (
	"context"
	"os"
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
// second instance is on this machine. Offices use QoS 0, as
// docs/deployment.md advises for a cluster (POLIS_BENCH_QOS=1 for QoS 1).
//
//	POLIS_BENCH_OFFICES=2000 POLIS_BENCH_BACKLOG=60s \
//	  go test -tags bench -run TestBenchNATSClusterScaleOut -v -timeout 60m ./fleet/
func TestBenchNATSClusterScaleOut(t *testing.T) {
	n := envInt("POLIS_BENCH_OFFICES", 2000)
	pile := envDuration("POLIS_BENCH_BACKLOG", 60*time.Second)
	in := testserver.Influx(t)
	sc := fleetsim.Config{Offices: n, ConnectRate: 500, QoS0: envInt("POLIS_BENCH_QOS", 0) == 0, AckTimeout: 30 * time.Minute, Window: 1000,
		Password: func(id string) string { return "office-secret-" + id }}
	offices, nodes := simNATSCluster(t, &sc)
	// One instance first creates the stream and consumer, then stops: from
	// then on the stream captures telemetry with nobody consuming it.
	natsFleet(t, in, nodes, offices, "setup")()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := fleetsim.Start(ctx, sc)
	began := time.Now()
	testserver.WaitForWithin(t, 10*time.Minute, "every office connected", func() bool { return sim.Report().Connected == int64(n) })
	t.Logf("%d offices connected to the cluster in %s (QoS 0: %v)", n, time.Since(began).Round(time.Second), sc.QoS0)
	// The first round is a warm-up, not counted: it creates every office's
	// series in InfluxDB (costly in 1.8), which would slow whichever round
	// came first. Then 1 and 2 instances alternate, twice each.
	var rates [3]float64
	var runs [3]int
	for round, instances := range []int{1, 1, 2, 1, 2} {
		if round > 0 {
			sim.Resume()
		}
		time.Sleep(pile)
		sim.Pause()
		before := sim.Report()
		backlog := before.Pending
		start, cpu0 := time.Now(), natsBenchCPU(t, in, nodes)
		var stops []func()
		for i := range instances {
			stops = append(stops, natsFleet(t, in, nodes, offices, string(rune('a'+i))))
		}
		testserver.WaitForWithin(t, 30*time.Minute, "the backlog drained", func() bool { return sim.Report().Pending == 0 })
		took, cpu1 := time.Since(start), natsBenchCPU(t, in, nodes)
		for _, stop := range stops {
			stop()
		}
		rate := float64(backlog) / took.Seconds()
		t.Logf("round %d, %d instance(s): %d lines from %d offices drained in %s: %.0f lines/s; CPU of one core: NATS nodes %.0f%%, influxd %.0f%%, fleet instances (test process) %.0f%%",
			round, instances, backlog, n, took.Round(time.Millisecond), rate,
			100*(cpu1[0]-cpu0[0])/took.Seconds(), 100*(cpu1[1]-cpu0[1])/took.Seconds(), 100*(cpu1[2]-cpu0[2])/took.Seconds())
		if round > 0 {
			rates[instances] += rate
			runs[instances]++
		}
	}
	r := sim.Report()
	if rows := simRows(t, in); int64(rows) != r.Measured || r.Rejected != 0 {
		t.Fatalf("measured %d lines, InfluxDB holds %d rows, rejected %d", r.Measured, rows, r.Rejected)
	}
	one, two := rates[1]/float64(runs[1]), rates[2]/float64(runs[2])
	t.Logf("mean drain: 1 instance %.0f lines/s, 2 instances %.0f lines/s: ratio %.2f", one, two, two/one)
}

// natsBenchCPU is the CPU seconds so far of the NATS nodes together, of
// influxd and of this process (the fleet instances; the offices are paused).
func natsBenchCPU(t *testing.T, in *testserver.InfluxDB, nodes []*testserver.NATSNode) [3]float64 {
	var c [3]float64
	for _, n := range nodes {
		c[0] += procCPU(t, n.Pid())
	}
	c[1], c[2] = procCPU(t, in.Pid()), procCPU(t, os.Getpid())
	return c
}
