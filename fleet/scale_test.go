//go:build bench

package fleet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
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
//     (prepared before the timer): the ingest-efficiency ratio.
//
//     POLIS_BENCH_OFFICES=7000 POLIS_BENCH_STEADY=60s POLIS_BENCH_OUTAGE=60s \
//     go test -tags bench -run TestBenchFleetAtFullSize -v -timeout 60m ./fleet/
//
// POLIS_BENCH_CPUPROFILE=/tmp/fleet.prof profiles the fleet process;
// POLIS_BENCH_FLEET_YAML adds lines to its config (e.g. "ingest: {workers: 8}");
// POLIS_BENCH_MIX=aggregated makes every office send fleetsim.AggregatedMix;
// POLIS_BENCH_QOS=0 makes the offices use uplink.qos 0;
// POLIS_BENCH_FLUSH=5s makes them send live batches every 5 s (uplink.live_interval);
// POLIS_BENCH_FLEET_GODEBUG sets the fleet process's GODEBUG (e.g.
// gcshrinkstackoff=0, the runtime's default the fleet otherwise turns off);
// POLIS_BENCH_SIM_PROFILE=/tmp/sim.prof profiles the simulated offices (this
// test process) over the restart and drain;
// POLIS_BENCH_INFLUX_PROFILE=/tmp/influxd profiles influxd for 8 s from the
// steady phase's start, the drain's first ack and the direct side's start
// (/tmp/influxd-steady.prof, -drain.prof, -direct.prof): where InfluxDB's CPU
// per line goes in each.
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
			args = append(args, "-cpuprofile", p) // the restarted fleet overwrites it: phase 2's profile
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
	// The first ack after the restart: from there on the fleet is writing,
	// which is what the direct side's rate compares with.
	firstAck := make(chan time.Duration, 1)
	go func() {
		for sim.Report().Acked == acked0 && time.Since(restart) < 10*time.Minute {
			time.Sleep(20 * time.Millisecond)
		}
		firstAck <- time.Since(restart)
		influxProfile(t, in.URL, "drain")
	}()
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
	rows := scaleRows(t, in)
	if r.Rejected != 0 || int64(rows) != r.Measured {
		t.Fatalf("measured %d lines, acked %d, rejected %d, InfluxDB holds %d rows", r.Measured, r.Acked, r.Rejected, rows)
	}
	if strings.Contains(fleetLog.String(), "server busy") || strings.Contains(fleetLog.String(), "max clients") {
		t.Errorf("the broker refused offices for load")
	}

	// Phase 3: the same lines (each office's series, fields and registry
	// tags over the outage, office by office as the backlogs arrived)
	// straight to InfluxDB with the client, 5,000-line writes on 4 writers.
	// The fleet's drain wrote to series that existed since phase 1; the
	// direct side's are created by an untimed first second in which every
	// series of every office fires once.
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
	icpu4, began := procCPU(t, in.Pid()), time.Now()
	go influxProfile(t, in.URL, "direct")
	writeAll(lines)
	direct, icpu5 := time.Since(began), procCPU(t, in.Pid())
	t.Logf("phase 3 direct: %d lines in %s (%.0f lines/s); fleet drain from its first ack / direct = %.2f", count, direct.Round(time.Millisecond),
		float64(count)/direct.Seconds(), (float64(backlog)/writing.Seconds())/(float64(count)/direct.Seconds()))
	// Whether the fleet hands InfluxDB writes as cheap as the client's: its
	// CPU per line on each side (the drain's share includes the restart).
	t.Logf("phase 3 influxd: %.0f%% of a core on the direct side; CPU per line %.1f µs direct, %.1f µs through the fleet's drain",
		100*(icpu5-icpu4)/direct.Seconds(), 1e6*(icpu5-icpu4)/float64(count), 1e6*(icpu3-icpu2)/float64(backlog))
}

// simProfile profiles this test process (the simulated offices) from the
// fleet's restart until the backlogs are drained, when
// POLIS_BENCH_SIM_PROFILE names a file: where the offices' share of the box
// goes in the drain. It returns the function that stops it.
func simProfile(t *testing.T) func() {
	path := os.Getenv("POLIS_BENCH_SIM_PROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// directLines renders the offices' lines over span (fleetsim.DirectLines) in
// 5,000-line chunks, under measurements of their own so they do not
// overwrite the fleet's rows.
func directLines(t *testing.T, sc fleetsim.Config, from time.Time, span time.Duration) ([]string, int) {
	all, count, err := fleetsim.DirectLines(sc, "direct_", from, span)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []string
	for len(all) > 0 {
		end, n := 0, 0
		for end < len(all) && n < 5000 {
			i := bytes.IndexByte(all[end:], '\n')
			if i < 0 {
				end = len(all)
				break
			}
			end += i + 1
			n++
		}
		chunks, all = append(chunks, string(all[:end])), all[end:]
	}
	return chunks, count
}

// scaleRows counts the simulated offices' rows, by a field every point of
// the measurement has at both mixes (aggregated env points have no raw
// temperature_c).
func scaleRows(t *testing.T, in *testserver.InfluxDB) int {
	env := "temperature_c"
	if os.Getenv("POLIS_BENCH_MIX") == "aggregated" {
		env = "temperature_c_mean"
	}
	total := 0
	for m, f := range map[string]string{"inverter": "WH", "meter": "TotWhImp", "charger": "power_w", "env": env, "locker": "occupied"} {
		series, err := in.Query(fmt.Sprintf(`SELECT COUNT(%q) FROM %q`, f, m))
		if err != nil || len(series) == 0 || len(series[0].Values) == 0 {
			t.Fatalf("count %s: %v", m, err)
		}
		c, err := strconv.Atoi(fmt.Sprint(series[0].Values[0][1]))
		if err != nil {
			t.Fatalf("count %s: %v", m, err)
		}
		total += c
	}
	return total
}

// influxProfile saves 8 s of influxd's CPU profile (its /debug/pprof is on
// by default) when POLIS_BENCH_INFLUX_PROFILE names a path prefix.
func influxProfile(t *testing.T, url, side string) {
	prefix := os.Getenv("POLIS_BENCH_INFLUX_PROFILE")
	if prefix == "" {
		return
	}
	resp, err := http.Get(url + "/debug/pprof/profile?seconds=8")
	if err != nil {
		t.Logf("influxd profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(prefix+"-"+side+".prof", b, 0o644)
	}
	if err != nil {
		t.Logf("influxd profile: %v", err)
	}
}

// influxQuiet waits, up to a minute, for influxd to use under a tenth of a
// core over a second, before the fleet's restart and before the direct
// side: compacting what was written before would otherwise take CPU from
// either side's writes (the direct side ran 67,561–119,031 lines/s in seven
// runs before this wait).
func influxQuiet(t *testing.T, pid int) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		c0 := procCPU(t, pid)
		time.Sleep(time.Second)
		if procCPU(t, pid)-c0 < 0.1 {
			return
		}
	}
	t.Logf("influxd still busy after a minute")
}

// procCPU is the process's user+system CPU seconds so far.
func procCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// procRSS is the process's resident memory in bytes.
func procRSS(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

func toFloat(v any) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}
