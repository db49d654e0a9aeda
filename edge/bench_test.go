package edge

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/protocols/testserver"
)

// benchSamples is the backlog size of BenchmarkDrain (POLIS_BENCH_SAMPLES overrides).
func benchSamples() int {
	if n, err := strconv.Atoi(os.Getenv("POLIS_BENCH_SAMPLES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkDrain measures issue 2's drain target: a backlog of buffered
// samples from a real polis-edge process through the embedded broker and the
// fleet into InfluxDB, against the same points written straight into InfluxDB
// with the client in the same run. It also samples the edge's RSS while idle
// and while draining. POLIS_BENCH_CPUPROFILE=/tmp/edge.prof profiles the edge.
func BenchmarkDrain(b *testing.B) {
	n := benchSamples()
	bin := buildEdge(b)

	// Each side gets a fresh InfluxDB, stopped before the other starts, so
	// neither pays for the other's compactions or a bigger index.
	var directInfluxCPU float64
	direct := func() time.Duration {
		in := testserver.Influx(b)
		defer in.Stop()
		cpu0 := cpuSeconds(in.Pid())
		d := writeDirect(b, in, n, "e2e")
		directInfluxCPU = cpuSeconds(in.Pid()) - cpu0
		return d
	}()
	b.Logf("direct client writes: %d points in %s (%.0f points/s); InfluxDB CPU %.2f s", n, direct.Round(time.Millisecond), float64(n)/direct.Seconds(), directInfluxCPU)

	in := testserver.Influx(b)
	f := startFleet(b, in, "")
	dir := filepath.Join(b.TempDir(), "edge")
	fillBuffer(b, dir, n)
	cfgPath := writeEdgeConfig(b, dir, f.Addrs().MQTT)

	args := []string{"-config", cfgPath}
	if p := os.Getenv("POLIS_BENCH_CPUPROFILE"); p != "" {
		args = append(args, "-cpuprofile", p) // where the edge's CPU goes while draining
	}
	influxCPU0, fleetCPU0 := cpuSeconds(in.Pid()), cpuSeconds(os.Getpid())
	b.ResetTimer()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer testserver.Terminate(cmd, 30*time.Second) // a clean stop, so that a profile is written
	var peak rss
	// Poll the fleet's own counter: a count() over a million rows would load
	// InfluxDB during this run and not during the direct one.
	accepted := func() int { o, _ := f.Office(testOffice); return int(o.SamplesAccepted) }
	online := func() bool { o, _ := f.Office(testOffice); return o.Online }
	var first, connected time.Duration
	for accepted() < n {
		if connected == 0 && (online() || accepted() > 0) {
			connected = time.Since(start)
		}
		if first == 0 && accepted() > 0 {
			first = time.Since(start)
		}
		if r := readRSS(cmd.Process.Pid); r.total() > peak.total() {
			peak = r
		}
		if time.Since(start) > 15*time.Minute {
			b.Fatalf("drain incomplete after 15 min: %d of %d samples", accepted(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain := time.Since(start)
	cpu := cpuSeconds(cmd.Process.Pid)
	influxCPU, fleetCPU := cpuSeconds(in.Pid())-influxCPU0, cpuSeconds(os.Getpid())-fleetCPU0
	b.StopTimer()
	if got := rows(b, in, ""); got != n {
		b.Fatalf("fleet acked %d samples but InfluxDB holds %d rows", n, got)
	}
	time.Sleep(5 * time.Second) // let the drain's garbage be collected
	idle := readRSS(cmd.Process.Pid)

	ratio := direct.Seconds() / drain.Seconds()
	// The direct side's timer starts with its lines in memory; the edge's
	// are in memory (its buffer open, its connection up) once the fleet
	// sees it online, as after a fleet outage, when the edge has been
	// running all along. Both ratios are reported.
	fromConnect := drain - connected
	b.Logf("edge online at the fleet %s and first sample accepted %s after the edge process started", connected.Round(time.Millisecond), first.Round(time.Millisecond))
	b.Logf("edge→fleet→InfluxDB: %d samples in %s (%.0f samples/s), ratio to direct %.2f; from the edge's connection %s, ratio %.2f",
		n, drain.Round(time.Millisecond), float64(n)/drain.Seconds(), ratio, fromConnect.Round(time.Millisecond), direct.Seconds()/fromConnect.Seconds())
	b.Logf("edge RSS while draining: %s peak; after: %s; edge CPU %.2f s (%.0f%% of one core)", peak, idle, cpu, 100*cpu/drain.Seconds())
	// The two cores' budget: InfluxDB does the same work on both sides, the
	// edge and the fleet (this test process) are what the drain adds.
	b.Logf("CPU while draining: edge %.2f s, fleet %.2f s, InfluxDB %.2f s (direct side: InfluxDB %.2f s)", cpu, fleetCPU, influxCPU, directInfluxCPU)
	b.ReportMetric(float64(n)/drain.Seconds(), "samples/s")
	b.ReportMetric(ratio, "ratio_to_direct")
	b.ReportMetric(direct.Seconds()/fromConnect.Seconds(), "ratio_from_connect")
	b.ReportMetric(float64(peak.anon)/1024, "MB_anon_draining")
	b.ReportMetric(float64(peak.total())/1024, "MB_rss_draining")
}

// BenchmarkIdleRSS is a freshly started edge with an empty buffer, connected
// to a fleet, after it settled: the figure an edge box with 1 GB cares about.
func BenchmarkIdleRSS(b *testing.B) {
	in := testserver.Influx(b)
	bin := buildEdge(b)
	f := startFleet(b, in, "")
	dir := filepath.Join(b.TempDir(), "edge")
	cmd := exec.Command(bin, "-config", writeEdgeConfig(b, dir, f.Addrs().MQTT))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(10 * time.Second)
	r := readRSS(cmd.Process.Pid)
	b.Logf("idle edge RSS: %s", r)
	b.ReportMetric(float64(r.total())/1024, "MB_rss_idle")
}

func buildEdge(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "polis-edge")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/polis-edge").CombinedOutput()
	if err != nil {
		b.Fatalf("build polis-edge: %v\n%s", err, out)
	}
	return bin
}

// writeDirect writes n points with the same shape, batch size and
// concurrency as the fleet uses, straight into InfluxDB. The lines are built
// before the clock starts, as the edge's buffer is filled before its clock
// starts: both sides time only moving already-encoded lines into InfluxDB.
// (Building them inside the timed region made the direct side look slower
// and the ratio 0.81-0.93 instead of 0.47-0.48.)
func writeDirect(b *testing.B, in *testserver.InfluxDB, n int, measurement string) time.Duration {
	client := influxdb2.NewClientWithOptions(in.URL, in.Token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(60))
	defer client.Close()
	w := client.WriteAPIBlocking("", in.Bucket)
	const batch, workers = 5000, 4
	var batches [][]string
	for from := 0; from < n; from += batch {
		lines := make([]string, 0, batch)
		for _, s := range e2eSamples(from, min(batch, n-from)) {
			s.Measurement = measurement
			// The same points the fleet stores: office plus the registry's
			// place tags (startFleetWith's office), so both sides hand
			// InfluxDB equal work.
			s.Tags["office"], s.Tags["region"], s.Tags["province"] = testOffice, "Emilia-Romagna", "RN"
			line, _ := s.AppendLine(nil)
			lines = append(lines, strings.TrimSuffix(string(line), "\n"))
		}
		batches = append(batches, lines)
	}
	jobs := make(chan []string)
	var wg sync.WaitGroup
	var once sync.Once
	var werr error
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lines := range jobs {
				if err := w.WriteRecord(context.Background(), lines...); err != nil {
					once.Do(func() { werr = err })
				}
			}
		}()
	}
	for _, lines := range batches {
		jobs <- lines
	}
	close(jobs)
	wg.Wait()
	if werr != nil {
		b.Fatal(werr)
	}
	return time.Since(start)
}

func fillBuffer(b testing.TB, dir string, n int) {
	buf, err := buffer.Open(filepath.Join(dir, "buffer.db"), buffer.Options{MaxBytes: 2 << 30})
	if err != nil {
		b.Fatal(err)
	}
	for from := 0; from < n; from += 10000 {
		samples := e2eSamples(from, min(10000, n-from))
		for i := range samples {
			samples[i].Tags["office"] = testOffice
		}
		if err := buf.Append(context.Background(), samples...); err != nil {
			b.Fatal(err)
		}
	}
	if err := buf.Close(); err != nil {
		b.Fatal(err)
	}
}

func writeEdgeConfig(b testing.TB, dir, mqttAddr string) string {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`office: {id: %q}
log: {level: warn}
data_dir: %q
buffer: {max_bytes: 2GiB}
uplink: {url: "tcp://%s", password: %q, backlog_rate: 0, window: 8, batch_samples: 5000, reconnect_min: 100ms, reconnect_max: 1s}
http: {listen: "127.0.0.1:0"}
`, testOffice, dir, mqttAddr, testPassword)
	path := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// rss is a process's resident memory in kB: anonymous (heap, stacks) and
// file-backed (bbolt's memory map of buffer.db, which the kernel can drop).
type rss struct{ anon, file int64 }

func (r rss) total() int64 { return r.anon + r.file }

func (r rss) String() string {
	return fmt.Sprintf("%.1f MB (%.1f MB anonymous + %.1f MB mapped buffer file)",
		float64(r.total())/1024, float64(r.anon)/1024, float64(r.file)/1024)
}

func readRSS(pid int) rss {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}
	}
	var r rss
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		switch k {
		case "RssAnon":
			r.anon = kb
		case "RssFile", "RssShmem":
			r.file += kb
		}
	}
	return r
}

// cpuSeconds is the user+system CPU time a process used so far.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may contain spaces) start at ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}
