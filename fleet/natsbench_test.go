//go:build bench

package fleet

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
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
// POLIS_BENCH_INSTANCE_CPU=0.05 runs each instance as its own polis-fleet
// process held to 0.05 of a core (cappedInstances): on this one box that is
// how to see what instances on machines of their own would add.
// POLIS_BENCH_FLUSH=5s makes the offices send every 5 s (uplink.live_interval):
// fewer, larger batches, which is what NATS's cost per line depends on.
//
//	POLIS_BENCH_OFFICES=2000 POLIS_BENCH_BACKLOG=60s \
//	  go test -tags bench -run TestBenchNATSClusterScaleOut -v -timeout 60m ./fleet/
func TestBenchNATSClusterScaleOut(t *testing.T) {
	n := envInt("POLIS_BENCH_OFFICES", 2000)
	pile := envDuration("POLIS_BENCH_BACKLOG", 60*time.Second)
	in := testserver.Influx(t)
	sc := fleetsim.Config{Offices: n, ConnectRate: 500, QoS0: envInt("POLIS_BENCH_QOS", 0) == 0, AckTimeout: 30 * time.Minute, Window: 1000,
		Flush:    envDuration("POLIS_BENCH_FLUSH", time.Second),
		Password: func(id string) string { return "office-secret-" + id }}
	offices, nodes := simNATSCluster(t, &sc)
	// One instance first creates the stream and consumer, then stops: from
	// then on the stream captures telemetry with nobody consuming it.
	natsFleet(t, in, nodes, offices, "setup")()
	// Where the instances run: in this process (natsFleet returns once the
	// instance is ready), or as capped processes.
	startInstance := func(name string) (pid int, ready func() bool, stop func()) {
		return os.Getpid(), func() bool { return true }, natsFleet(t, in, nodes, offices, name)
	}
	if share := envFloat("POLIS_BENCH_INSTANCE_CPU", 0); share > 0 {
		capped := newCappedInstances(t, share, func(name string) config.Config { return natsInstanceConfig(in, nodes, offices, name) })
		startInstance = capped.start
		t.Logf("each fleet instance is a process held to %.2f of a core", share)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := fleetsim.Start(ctx, sc)
	began := time.Now()
	logSimOnFailure(t, sim)
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
		backlog := sim.Report().Pending
		var stops []func()
		var pids []int
		var ready []func() bool
		for i := range instances {
			pid, r, stop := startInstance(string(rune('a' + i)))
			stops, pids, ready = append(stops, stop), append(pids, pid), append(ready, r)
		}
		fleetIs := "fleet instances"
		if pids[0] == os.Getpid() {
			pids = pids[:1] // in this process: count its CPU once
			fleetIs = "this process (fleet instances and the paused offices)"
		}
		// The drain's rate is taken in its middle: from 2 s after every
		// instance is ready until four fifths of what was left then is
		// acked. Starting a process is not what a second instance adds in
		// production (held to a small share of a core it takes seconds, and
		// the first instance ready fills its pipeline meanwhile), and the
		// last few acks trickle.
		testserver.WaitForWithin(t, 5*time.Minute, "every instance ready", func() bool {
			for _, r := range ready {
				if !r() {
					return false
				}
			}
			return true
		})
		time.Sleep(2 * time.Second)
		from := sim.Report().Pending
		start, cpu0 := time.Now(), natsBenchCPU(t, in, nodes, pids)
		var to int64
		testserver.WaitForWithin(t, 30*time.Minute, "four fifths of the backlog drained", func() bool {
			to = sim.Report().Pending
			return to <= from/5
		})
		took, cpu1 := time.Since(start), natsBenchCPU(t, in, nodes, pids)
		testserver.WaitForWithin(t, 30*time.Minute, "the backlog drained", func() bool { return sim.Report().Pending == 0 })
		for _, stop := range stops {
			stop()
		}
		rate := float64(from-to) / took.Seconds()
		t.Logf("round %d, %d instance(s): %d lines from %d offices drained in %s: %.0f lines/s; CPU of one core: %s",
			round, instances, from-to, n, took.Round(time.Millisecond), rate, cpu1.since(cpu0, took, from-to, fleetIs))
		switch {
		case from-to < backlog/4:
			// Most of it drained while the instances started: the window
			// says nothing about the steady rate.
			t.Logf("round %d not counted: its window held %d of %d lines", round, from-to, backlog)
		case round > 0:
			rates[instances] += rate
			runs[instances]++
		}
	}
	r := sim.Report()
	if rows := simRows(t, in); int64(rows) != r.Measured || r.Rejected != 0 {
		t.Fatalf("measured %d lines, InfluxDB holds %d rows, rejected %d", r.Measured, rows, r.Rejected)
	}
	if runs[1] == 0 || runs[2] == 0 {
		t.Fatalf("too few rounds long enough to time (1 instance: %d, 2: %d): raise POLIS_BENCH_BACKLOG", runs[1], runs[2])
	}
	one, two := rates[1]/float64(runs[1]), rates[2]/float64(runs[2])
	t.Logf("mean drain: 1 instance %.0f lines/s, 2 instances %.0f lines/s: ratio %.2f", one, two, two/one)
}

// benchCPU is CPU seconds so far: of each NATS node, of influxd and of
// the fleet instances' processes together (the offices are paused).
type benchCPU struct {
	nodes              []float64
	influx, fleet, box float64 // box: every process on the machine
}

func natsBenchCPU(t *testing.T, in *testserver.InfluxDB, nodes []*testserver.NATSNode, fleets []int) benchCPU {
	c := benchCPU{influx: procCPU(t, in.Pid()), box: boxCPU(t)}
	for _, n := range nodes {
		c.nodes = append(c.nodes, procCPU(t, n.Pid()))
	}
	for _, pid := range fleets {
		c.fleet += procCPU(t, pid)
	}
	return c
}

// since is the CPU used from c0 to c over d, in % of one core.
func (c benchCPU) since(c0 benchCPU, d time.Duration, lines int64, fleetIs string) string {
	pct := func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x/d.Seconds()) }
	var all float64
	var each []string
	for i := range c.nodes {
		all += c.nodes[i] - c0.nodes[i]
		each = append(each, pct(c.nodes[i]-c0.nodes[i]))
	}
	fleet := c.fleet - c0.fleet
	return fmt.Sprintf("NATS nodes %s (%s), influxd %s, %s %s (%.1f µs per line); the whole box %s of %d%%",
		pct(all), strings.Join(each, " "), pct(c.influx-c0.influx), fleetIs, pct(fleet), 1e6*fleet/float64(lines), pct(c.box-c0.box), 100*runtime.NumCPU())
}

// boxCPU is the CPU seconds every process on the machine used so far
// (/proc/stat's first line, less idle and iowait).
func boxCPU(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var busy float64
	for i, f := range strings.Fields(line)[1:] {
		if i == 3 || i == 4 || i >= 7 { // idle, iowait; steal (the hypervisor's), guest (already in user)
			continue
		}
		v, _ := strconv.ParseFloat(f, 64)
		busy += v
	}
	return busy / 100 // USER_HZ
}
