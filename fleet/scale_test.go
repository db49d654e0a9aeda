//go:build bench

package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/polis-edge/polis/protocols/fleetsim"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestBenchFleetAtFullSize runs polis-fleet as its own process (so its CPU and
// memory are its own) against thousands of simulated offices on the embedded
// broker and a real InfluxDB, in three phases:
//
//  1. steady state at the reference mix: does the fleet keep up, ack latency,
//     fleet CPU and RSS, memory per connected office;
//
//  2. the fleet is stopped for a while (a backlog builds in every office) and
//     restarted: reconnect storm and backlog drain, every line accounted for;
//
//  3. the same number of lines written straight to InfluxDB by the client
//     (prepared before the timer): the ingest-efficiency ratio;
//
//  4. the offices, still connected, hold their sends for as long as the
//     outage (as while InfluxDB is away) and then send their backlogs at
//     once: the fleet's ingest of many offices' small batches without a
//     reconnect storm on the same two cores, against phase 3 too.
//
//     POLIS_BENCH_OFFICES=7000 POLIS_BENCH_STEADY=60s POLIS_BENCH_OUTAGE=60s \
//     go test -tags bench -run TestBenchFleetAtFullSize -v -timeout 60m ./fleet/
//
// POLIS_BENCH_CPUPROFILE=/tmp/fleet.prof profiles the fleet process (phase
// 1 in /tmp/fleet.prof.steady, the restarted fleet in /tmp/fleet.prof);
// POLIS_BENCH_FLEET_YAML adds lines to its config (e.g. "ingest: {workers: 8}");
// POLIS_BENCH_MIX=aggregated makes every office send fleetsim.AggregatedMix;
// POLIS_BENCH_QOS=0 makes the offices use uplink.qos 0;
// POLIS_BENCH_FLUSH=5s makes them send live batches every 5 s (uplink.live_interval);
// POLIS_BENCH_FLEET_GODEBUG sets the fleet process's GODEBUG (e.g.
// gcshrinkstackoff=0, the runtime's default the fleet otherwise turns off);
// POLIS_BENCH_SIM_PROFILE=/tmp/sim.prof profiles the simulated offices (this
// test process) over the restart and drain;
// POLIS_BENCH_INFLUX_PROFILE=/tmp/influxd profiles influxd for 8 s from the
// steady phase's start, each drain's first ack and the direct side's start
// (/tmp/influxd-steady.prof, -drain.prof, -direct.prof, -held.prof): where
// InfluxDB's CPU per line goes in each.
func TestBenchFleetAtFullSize(t *testing.T) {
	n := envInt("POLIS_BENCH_OFFICES", 7000)
	steady := envDuration("POLIS_BENCH_STEADY", 60*time.Second)
	outage := envDuration("POLIS_BENCH_OUTAGE", 60*time.Second)
	in := testserver.Influx(t)
	dir := t.TempDir()
	bin := buildPolisFleet(t, dir)
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sc := fleetsim.Config{Broker: fmt.Sprintf("tcp://127.0.0.1:%d", port), Offices: n, ConnectRate: 1000, AckTimeout: 60 * time.Second, Mix: fleetsim.ReferenceMix,
		QoS0: envInt("POLIS_BENCH_QOS", 1) == 0, Flush: envDuration("POLIS_BENCH_FLUSH", time.Second)}
	if os.Getenv("POLIS_BENCH_MIX") == "aggregated" {
		sc.Mix = fleetsim.AggregatedMix
	}
	var reg bytes.Buffer
	fleetsim.WriteRegistry(&reg, sc)
	os.WriteFile(filepath.Join(dir, "offices.yaml"), reg.Bytes(), 0o600)
	conf := fmt.Sprintf(`log: {level: warn}
http: {listen: "127.0.0.1:0"}
broker: {mode: embedded, embedded: {tcp: "127.0.0.1:%d"}}
influx: {url: %q, token: %q, bucket: %q, timeout: 30s}
data_dir: %q
offices_file: offices.yaml
%s`, port, in.URL, in.Token, in.Bucket, filepath.Join(dir, "data"), os.Getenv("POLIS_BENCH_FLEET_YAML"))
	os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(conf), 0o600)
	fleetLog := &testserver.SyncBuffer{}
	start := func() *exec.Cmd {
		args := []string{"-config", filepath.Join(dir, "fleet.yaml")}
		if p := os.Getenv("POLIS_BENCH_CPUPROFILE"); p != "" {
			args = append(args, "-cpuprofile", p) // phase 1 renames it before the restart
		}
		cmd := exec.Command(bin, args...)
		if g := os.Getenv("POLIS_BENCH_FLEET_GODEBUG"); g != "" {
			// The first GODEBUG in an environment wins: replace, not append.
			cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") }), "GODEBUG="+g)
		}
		cmd.Stdout, cmd.Stderr = fleetLog, fleetLog
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	fleet := start()
	defer func() { stop(fleet) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fleet log:\n%s", fleetLog.String())
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	connectStart := time.Now()
	sim := fleetsim.Start(ctx, sc)
	logSimOnFailure(t, sim)
	testserver.WaitForWithin(t, 10*time.Minute, "every office connected", func() bool { return sim.Report().Connected == int64(n) })
	t.Logf("phase 1: %d offices connected in %s (%.1f lines/s each, %.0f lines/s in all)",
		n, time.Since(connectStart).Round(time.Second), sc.Mix.LinesPerSecond(), float64(n)*sc.Mix.LinesPerSecond())
	time.Sleep(20 * time.Second) // warm-up
	sim.ResetLatencies()
	go influxProfile(t, in.URL, "steady")
	r0, cpu0, t0 := sim.Report(), procCPU(t, fleet.Process.Pid), time.Now()
	icpu0, scpu0 := procCPU(t, in.Pid()), procCPU(t, os.Getpid())
	time.Sleep(steady)
	r1, cpu1, t1 := sim.Report(), procCPU(t, fleet.Process.Pid), time.Now()
	icpu1, scpu1 := procCPU(t, in.Pid()), procCPU(t, os.Getpid())
	wall := t1.Sub(t0).Seconds()
	rss := procRSS(t, fleet.Process.Pid)
	t.Logf("phase 1 steady %s: measured %.0f lines/s, acked %.0f lines/s, pending %d → %d lines, ack p50 %s p99 %s max %s",
		steady, float64(r1.Measured-r0.Measured)/wall, float64(r1.Acked-r0.Acked)/wall, r0.Pending, r1.Pending, r1.P50, r1.P99, r1.Max)
	t.Logf("phase 1 fleet: CPU %.0f%% of one core, RSS %.0f MB, %.1f KB per connected office",
		100*(cpu1-cpu0)/wall, rss/1e6, rss/1e3/float64(n))
	t.Logf("phase 1 where the 2 cores go: fleet %.0f%%, influxd %.0f%%, the %d simulated offices (this test process) %.0f%% of one core",
		100*(cpu1-cpu0)/wall, 100*(icpu1-icpu0)/wall, n, 100*(scpu1-scpu0)/wall)

	if s, err := in.Query(`SELECT last("batches_ok"), last("influx_requests"), last("influx_request_s") FROM "polis_fleet"`); err == nil && len(s) > 0 && len(s[0].Values) > 0 {
		v := s[0].Values[0]
		b, r, sec := toFloat(v[1]), toFloat(v[2]), toFloat(v[3])
		if r > 0 {
			t.Logf("phase 1 fleet → InfluxDB: %.0f batches in %.0f write requests (%.1f offices' batches per write), mean write %.0f ms",
				b, r, b/r, 1000*sec/r)
		}
	}
	stop(fleet)
	if p := os.Getenv("POLIS_BENCH_CPUPROFILE"); p != "" {
		os.Rename(p, p+".steady") // phase 1's profile, before the restarted fleet writes its own
	}
	testserver.WaitForWithin(t, 5*time.Minute, "offices notice the fleet is gone", func() bool { return sim.Report().Connected == 0 })
	time.Sleep(outage)
	backlog := sim.Report().Pending
	sim.Pause() // the backlog is what it is: the drain below is exactly it
	// The offices cut their backlogs into batches before the restart, as
	// the direct side renders its lines before its timer: their encoding
	// runs on 7,000 edge boxes in production, not beside the fleet.
	testserver.WaitForWithin(t, 5*time.Minute, "every backlog cut into batches", func() bool { return sim.Report().Unbatched == 0 })
	influxQuiet(t, in.Pid()) // the direct side starts on a quiet influxd too
	restart := time.Now()
	acked0 := sim.Report().Acked
	icpu2, scpu2 := procCPU(t, in.Pid()), procCPU(t, os.Getpid())
	fleet = start()
	stopSimProfile := simProfile(t)
	firstAck := firstAckAfter(t, sim, in, restart, acked0, "drain")
	testserver.WaitForWithin(t, 10*time.Minute, "every office back", func() bool { return sim.Report().Connected == int64(n) })
	online := time.Since(restart)
	testserver.WaitForWithin(t, 30*time.Minute, "every backlog drained", func() bool { return sim.Report().Pending == 0 })
	drained := time.Since(restart)
	stopSimProfile()
	fcpu3, icpu3, scpu3 := procCPU(t, fleet.Process.Pid), procCPU(t, in.Pid()), procCPU(t, os.Getpid())
	writing := drained - <-firstAck
	r := sim.Report()
	t.Logf("phase 2 reconnect storm after a %s outage: all %d online in %s, backlog of %d lines drained in %s (%.0f lines/s; %.0f lines/s from the first ack, %s after the restart); resent %d batches, rejected %d lines",
		outage, n, online.Round(time.Second), backlog, drained.Round(time.Second), float64(backlog)/drained.Seconds(),
		float64(backlog)/writing.Seconds(), (drained - writing).Round(100*time.Millisecond), r.Resent, r.Rejected)
	t.Logf("phase 2 where the 2 cores go: fleet %.0f%%, influxd %.0f%%, the simulated offices %.0f%% of one core",
		100*fcpu3/drained.Seconds(), 100*(icpu3-icpu2)/drained.Seconds(), 100*(scpu3-scpu2)/drained.Seconds())
	restartRate := float64(backlog) / writing.Seconds()

	directRate := writeDirect(t, sc, in, outage)
	t.Logf("phase 3 ratio: the fleet's drain after the restart (with the reconnect storm) / direct = %.2f; influxd CPU per line through that drain %.1f µs",
		restartRate/directRate, 1e6*(icpu3-icpu2)/float64(backlog))
	// Phase 4 comes after the direct side, so it is the fleet's writes that
	// go into the larger database.
	heldRate := heldDrain(t, sim, in, fleet.Process.Pid, outage)
	t.Logf("phase 4 ratio: the held offices' drain (pure ingest) / direct = %.2f", heldRate/directRate)

	r = sim.Report()
	rows := scaleRows(t, in)
	if r.Rejected != 0 || int64(rows) != r.Measured {
		t.Fatalf("measured %d lines, acked %d, rejected %d, InfluxDB holds %d rows", r.Measured, r.Acked, r.Rejected, rows)
	}
	if strings.Contains(fleetLog.String(), "server busy") || strings.Contains(fleetLog.String(), "max clients") {
		t.Errorf("the broker refused offices for load")
	}
}

// writeDirect is phase 3: the same lines as an outage's backlogs (each
// office's series, fields and registry tags over outage, office by office
// as the backlogs arrive) straight to InfluxDB with the client, 5,000-line
// writes on 4 writers, rendered before the timer. The fleet's drains write
// to series that exist since phase 1; the direct side's are created by an
// untimed first second in which every series of every office fires once.
// It returns the rate, lines/s.
func writeDirect(t *testing.T, sc fleetsim.Config, in *testserver.InfluxDB, outage time.Duration) float64 {
	client := influxdb2.NewClientWithOptions(in.URL, in.Token, influxdb2.DefaultOptions().SetPrecision(time.Nanosecond))
	defer client.Close()
	write := client.WriteAPIBlocking("", in.Bucket)
	writeAll := func(lines []string) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(lines); i += 4 {
					if err := write.WriteRecord(context.Background(), lines[i]); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	directFrom := time.Now().Add(-time.Hour).Truncate(time.Minute)
	warm, _ := directLines(t, sc, directFrom, time.Second)
	writeAll(warm)
	lines, count := directLines(t, sc, directFrom.Add(time.Second), outage)
	influxQuiet(t, in.Pid()) // as it was when the fleet came back after the outage
	icpu0, began := procCPU(t, in.Pid()), time.Now()
	go influxProfile(t, in.URL, "direct")
	writeAll(lines)
	direct, icpu1 := time.Since(began), procCPU(t, in.Pid())
	t.Logf("phase 3 direct: %d lines in %s (%.0f lines/s); influxd %.0f%% of a core, %.1f µs of CPU per line",
		count, direct.Round(time.Millisecond), float64(count)/direct.Seconds(), 100*(icpu1-icpu0)/direct.Seconds(), 1e6*(icpu1-icpu0)/float64(count))
	return float64(count) / direct.Seconds()
}

// heldDrain is phase 4, ingest without a reconnect storm: the offices, all
// connected, measure for outage without sending (as while InfluxDB is away
// and the fleet answers retry), cut their backlogs into batches, and send
// them at once. It returns the drain's rate from the first ack, lines/s.
func heldDrain(t *testing.T, sim *fleetsim.Sim, in *testserver.InfluxDB, fleetPid int, outage time.Duration) float64 {
	sim.Resume()
	time.Sleep(20 * time.Second) // every office back in its rhythm
	sim.Hold()
	time.Sleep(outage)
	sim.Pause()
	testserver.WaitForWithin(t, 5*time.Minute, "every held backlog cut into batches", func() bool { return sim.Report().Unbatched == 0 })
	r0 := sim.Report()
	influxQuiet(t, in.Pid())
	fcpu0, icpu0, scpu0 := procCPU(t, fleetPid), procCPU(t, in.Pid()), procCPU(t, os.Getpid())
	start := time.Now()
	firstAck := firstAckAfter(t, sim, in, start, r0.Acked, "held")
	sim.Release()
	testserver.WaitForWithin(t, 30*time.Minute, "every held backlog drained", func() bool { return sim.Report().Pending == 0 })
	drained := time.Since(start)
	fcpu1, icpu1, scpu1 := procCPU(t, fleetPid), procCPU(t, in.Pid()), procCPU(t, os.Getpid())
	writing := drained - <-firstAck
	r1 := sim.Report()
	t.Logf("phase 4 held offices: %d connected offices released backlogs of %d lines after %s: drained in %s (%.0f lines/s from the first ack, %s after the release); %d batches, %d connections lost",
		r1.Connected, r0.Pending, outage, drained.Round(100*time.Millisecond), float64(r0.Pending)/writing.Seconds(),
		(drained - writing).Round(time.Millisecond), r1.Batches-r0.Batches, r1.Lost-r0.Lost)
	t.Logf("phase 4 where the 2 cores go: fleet %.0f%%, influxd %.0f%%, the simulated offices %.0f%% of one core; influxd CPU per line %.1f µs",
		100*(fcpu1-fcpu0)/drained.Seconds(), 100*(icpu1-icpu0)/drained.Seconds(), 100*(scpu1-scpu0)/drained.Seconds(), 1e6*(icpu1-icpu0)/float64(r0.Pending))
	return float64(r0.Pending) / writing.Seconds()
}

// firstAckAfter reports how long after start the first ack beyond acked
// came: from there on the fleet is writing, which is what the direct side's
// rate compares with. Then it profiles influxd as side.
func firstAckAfter(t *testing.T, sim *fleetsim.Sim, in *testserver.InfluxDB, start time.Time, acked int64, side string) <-chan time.Duration {
	first := make(chan time.Duration, 1)
	go func() {
		for sim.Report().Acked == acked && time.Since(start) < 10*time.Minute {
			time.Sleep(20 * time.Millisecond)
		}
		first <- time.Since(start)
		influxProfile(t, in.URL, side)
	}()
	return first
}
