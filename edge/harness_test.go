package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/fleet"
	fleetconfig "github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

const (
	testOffice   = "12345"
	testPassword = "s3cret"
)

func quietLog() *slog.Logger {
	if os.Getenv("POLIS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runningFleet is a real polis-fleet in this process, with its embedded broker.
type runningFleet struct {
	*fleet.Fleet
	stop func()
}

// startFleet starts a fleet writing to in; mqttAddr "" picks a free port, a
// previous fleet's address brings it back where the offices expect it.
func startFleet(t testing.TB, in *testserver.InfluxDB, mqttAddr string) *runningFleet {
	t.Helper()
	return startFleetWith(t, in, func(c *fleetconfig.Config) {
		if mqttAddr != "" {
			c.Broker.Embedded.TCP = mqttAddr
		}
	})
}

// startFleetWith starts a fleet on free ports, after edit adjusted its config.
func startFleetWith(t testing.TB, in *testserver.InfluxDB, edit func(*fleetconfig.Config)) *runningFleet {
	t.Helper()
	cfg := fleetconfig.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Broker.Embedded.TCP = "127.0.0.1:0"
	cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Bucket = in.URL, in.Token, in.Bucket
	cfg.Influx.Timeout = 5 * time.Second
	cfg.TelemetryInterval = time.Hour
	cfg.Offices = []fleetconfig.Office{{ID: testOffice, Password: testPassword, Region: "Emilia-Romagna", Province: "RN"}}
	edit(&cfg)
	var f *fleet.Fleet
	var err error
	// The previous fleet's port may take a moment to be free again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if f, err = fleet.New(cfg, quietLog()); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	rf := &runningFleet{Fleet: f}
	stopped := false
	rf.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(rf.stop)
	return rf
}

func edgeConfig(t testing.TB, dataDir, mqttAddr string) config.Config {
	cfg := config.Default()
	cfg.Office.ID = testOffice
	cfg.DataDir = dataDir
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Buffer.CommitInterval = 20 * time.Millisecond
	cfg.Uplink.URL = "tcp://" + mqttAddr
	cfg.Uplink.Password = testPassword
	cfg.Uplink.AckTimeout = 5 * time.Second
	cfg.Uplink.ReconnectMin = 100 * time.Millisecond
	cfg.Uplink.ReconnectMax = 500 * time.Millisecond
	cfg.Uplink.BacklogRate = 0
	cfg.Uplink.BatchSamples = 1000
	cfg.Telemetry.Interval = time.Hour
	if mqttAddr == "" {
		off := false
		cfg.Uplink.Enabled = &off
	}
	if err := cfg.Validate(); err != nil {
		panic(err) // a broken test config: nothing sensible to run
	}
	return cfg
}

// startEdge runs a daemon in this process until the test ends or stop is called.
func startEdge(t *testing.T, cfg config.Config) (*Daemon, func()) {
	t.Helper()
	d, err := New(cfg, quietLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	<-d.ready
	return d, stop
}

var e2eBase = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// e2eSamples are n samples with ids from..from+n-1: one series, one
// timestamp per id, so InfluxDB holds exactly one row per id.
func e2eSamples(from, n int) []sample.Sample {
	out := make([]sample.Sample, n)
	for i := range out {
		id := from + i
		out[i] = sample.Sample{
			Measurement: "e2e", Tags: map[string]string{sample.TagDevice: "gen"},
			Fields: map[string]any{"id": int64(id), "ac_power_w": float64(id % 5000)},
			Time:   e2eBase.Add(time.Duration(id) * time.Millisecond),
		}
	}
	return out
}

func appendSamples(t *testing.T, d *Daemon, from, n int) {
	t.Helper()
	for i := 0; i < n; i += 500 {
		m := min(500, n-i)
		if err := d.Sink().Append(context.Background(), e2eSamples(from+i, m)...); err != nil {
			t.Fatal(err)
		}
	}
}

func rows(t testing.TB, in *testserver.InfluxDB, where string) int {
	t.Helper()
	q := `SELECT count("id") FROM "e2e"`
	if where != "" {
		q += " WHERE " + where
	}
	return countOf(t, in, q)
}

// countOf runs a query whose first value is a count.
func countOf(t testing.TB, in *testserver.InfluxDB, q string) int {
	t.Helper()
	series, err := in.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) == 0 || len(series[0].Values) == 0 {
		return 0
	}
	var n int
	fmt.Sscan(fmt.Sprint(series[0].Values[0][1]), &n)
	return n
}

// waitFor is the project's one wait helper (protocols/testserver).
var waitFor = testserver.WaitForWithin

func dataDir(t *testing.T) string { return filepath.Join(t.TempDir(), "edge") }
