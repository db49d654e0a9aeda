package mqtt

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/sample"
)

// TestMain turns the test binary into the benchmark's load generator when
// asked, so the 500 publishing clients run in another process and do not
// count against the edge's CPU and memory.
func TestMain(m *testing.M) {
	if url := os.Getenv("POLIS_MQTT_LOADGEN_URL"); url != "" {
		os.Exit(loadgen(url))
	}
	os.Exit(m.Run())
}

func loadgen(url string) int {
	n, _ := strconv.Atoi(os.Getenv("POLIS_MQTT_LOADGEN_N"))
	epoch, _ := strconv.ParseInt(os.Getenv("POLIS_MQTT_LOADGEN_EPOCH"), 10, 64)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("s%03d", i)
			c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(id).SetPassword("p").
				SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second))
			c.Connect().Wait()
			time.Sleep(time.Duration(i) * time.Second / time.Duration(n)) // spread over the second
			for t := time.NewTicker(time.Second); ; <-t.C {
				us := time.Since(time.Unix(0, epoch)).Microseconds()
				c.Publish("sensors/"+id, 1, false, fmt.Appendf(nil, `{"temperature":21.5,"humidity":40,"t":%d}`, us))
			}
		}()
	}
	wg.Wait()
	return 0
}

// latencySink measures publish → buffered.
type latencySink struct {
	epoch time.Time
	mu    sync.Mutex
	lat   []time.Duration
	on    bool
}

func (l *latencySink) Append(_ context.Context, ss ...sample.Sample) error {
	now := time.Since(l.epoch)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range ss {
		if us, ok := s.Fields["sent_us"].(int64); ok && l.on {
			l.lat = append(l.lat, now-time.Duration(us)*time.Microsecond)
		}
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMB(key string) float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkEmbedded500Sensors: 500 sensors at 1 Hz through the embedded
// broker into the sink. Run it with
//
//	go test -run '^$' -bench Embedded500 -benchtime=1x ./protocols/mqtt/
//
// POLIS_BENCH_SECONDS sets the measured window (default 30).
func BenchmarkEmbedded500Sensors(b *testing.B) {
	const n = 500
	window := 30 * time.Second
	if s, err := strconv.Atoi(os.Getenv("POLIS_BENCH_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	rules := []mapping.Rule{{Measurement: "env", Fields: []mapping.Field{
		{Name: "temperature_c", Path: "temperature"}, {Name: "humidity_pct", Path: "humidity"},
		{Name: "sent_us", Path: "t", Type: "int"}}}}
	cfg := Config{Limits: Limits{MaxClients: n + 10}}
	for i := 0; i < n; i++ {
		cfg.Devices = append(cfg.Devices, Device{ID: fmt.Sprintf("s%03d", i), Password: "p", Mapping: rules})
	}
	sink := &latencySink{epoch: time.Now()}
	for i := 0; i < b.N; i++ {
		s := startService(b, cfg, sink, openDB(b))
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "POLIS_MQTT_LOADGEN_URL="+brokerURL(s),
			fmt.Sprintf("POLIS_MQTT_LOADGEN_N=%d", n), fmt.Sprintf("POLIS_MQTT_LOADGEN_EPOCH=%d", sink.epoch.UnixNano()))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(5 * time.Second) // connect and settle
		sink.mu.Lock()
		sink.on = true
		sink.mu.Unlock()
		cpu0, t0 := cpuTime(), time.Now()
		time.Sleep(window)
		cpu, wall := cpuTime()-cpu0, time.Since(t0)
		sink.mu.Lock()
		sink.on = false
		lat := append([]time.Duration(nil), sink.lat...)
		sink.mu.Unlock()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if len(lat) == 0 {
			b.Fatal("no samples arrived")
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
		b.ReportMetric(rssMB("VmRSS"), "rss_MB")
		b.ReportMetric(rssMB("VmHWM"), "peak_rss_MB")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(len(lat))/wall.Seconds(), "samples/s")
	}
}
