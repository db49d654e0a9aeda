package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/fleetsim"
	"github.com/polis-edge/polis/protocols/testserver"
)

// simOffices registers the simulated offices through the same offices_file
// format polis-sim fleet writes, so the registry writer is tested too.
func simOffices(t testing.TB, sc fleetsim.Config) []config.Office {
	var buf bytes.Buffer
	if err := fleetsim.WriteRegistry(&buf, sc); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "offices.yaml"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("offices_file: offices.yaml\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Offices
}

// simFleet prepares a fleet for sc's simulated offices: a real InfluxDB, the
// embedded broker on a free port (sc.Broker is pointed at it) and the offices
// registered as polis-sim fleet writes them.
func simFleet(t testing.TB, sc *fleetsim.Config) (*testserver.InfluxDB, config.Config) {
	in := testserver.Influx(t)
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	sc.Broker = "tcp://" + addr
	cfg := testConfig(in)
	cfg.Broker.Embedded.TCP = addr
	cfg.Offices = simOffices(t, *sc)
	return in, cfg
}

// TestSimulatedFleetSurvivesFleetRestartWithoutLoss runs a hundred simulated
// offices through the real broker, ingest and InfluxDB, restarts the fleet in
// the middle (every office reconnects and resends what was unacked), and
// checks that every measured line is a row in InfluxDB: none lost, none twice.
func TestSimulatedFleetSurvivesFleetRestartWithoutLoss(t *testing.T) {
	sc := fleetsim.Config{Offices: 100, ConnectRate: 200, AckTimeout: 10 * time.Second}
	in, cfg := simFleet(t, &sc)

	run := func() (stop func()) {
		f, err := New(cfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("fleet Run: %v", err)
			}
		}
	}
	stop := run()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSimAcked(ctx, t, sc)
	stop() // the fleet goes away mid-stream: offices lose their connection and keep measuring
	eventually(t, "offices notice the fleet is gone", func() bool { return sim.Report().Connected == 0 })
	time.Sleep(2 * time.Second) // a backlog builds up while the fleet is down
	// Paused while away, every office cuts its backlog into batches before
	// the fleet returns (what the scale benchmark does): those queued
	// batches must follow the unacked ones in sequence, none lost or twice.
	sim.Pause()
	eventually(t, "every backlog cut into batches", func() bool { return sim.Report().Unbatched == 0 })
	stop = run()
	defer stop()
	eventually(t, "every office back", func() bool { return sim.Report().Connected == int64(sc.Offices) })
	eventually(t, "every measured line acked", func() bool { r := sim.Report(); return r.Pending == 0 })

	r := sim.Report()
	if r.Rejected != 0 || r.Lost < int64(sc.Offices) {
		t.Fatalf("want no rejected lines and every office to have lost its connection once: %+v", r)
	}
	rows := simRows(t, in)
	if int64(rows) != r.Measured || r.Acked != r.Measured {
		t.Fatalf("measured %d lines, acked %d, InfluxDB holds %d rows", r.Measured, r.Acked, rows)
	}
	t.Logf("%d offices, %d lines, %d batches (%d resent), ack p50 %s p99 %s", r.Offices, r.Measured, r.Batches, r.Resent, r.P50, r.P99)
}

// TestHeldOfficesDrainWithoutReconnecting holds fifty connected offices (they
// measure and send nothing, as while InfluxDB is away), then releases them:
// each sends its backlog as one batch on the connection it kept, and every
// measured line is a row. This is the scale benchmark's pure-ingest drain.
func TestHeldOfficesDrainWithoutReconnecting(t *testing.T) {
	sc := fleetsim.Config{Offices: 50, ConnectRate: 200}
	in, cfg := simFleet(t, &sc)
	startFleet(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSimAcked(ctx, t, sc)
	sim.Hold()
	time.Sleep(1500 * time.Millisecond) // a send already under way when Hold came finishes
	held := sim.Report()
	time.Sleep(2 * time.Second)
	r := sim.Report()
	if r.Batches != held.Batches || r.Measured <= held.Measured {
		t.Fatalf("held offices must measure and send nothing: batches %d → %d, measured %d → %d", held.Batches, r.Batches, held.Measured, r.Measured)
	}
	sim.Pause()
	eventually(t, "every backlog cut into batches", func() bool { return sim.Report().Unbatched == 0 })
	before := sim.Report()
	sim.Release()
	eventually(t, "every measured line acked", func() bool { return sim.Report().Pending == 0 })
	r = sim.Report()
	if r.Lost != 0 || r.Connects != int64(sc.Offices) || r.Rejected != 0 {
		t.Fatalf("want every office on its first connection and nothing rejected: %+v", r)
	}
	if sent := r.Batches - before.Batches; sent != int64(sc.Offices) {
		t.Errorf("released offices sent %d batches, want one backlog batch each (%d)", sent, sc.Offices)
	}
	if rows := simRows(t, in); int64(rows) != r.Measured || r.Acked != r.Measured {
		t.Fatalf("measured %d lines, acked %d, InfluxDB holds %d rows", r.Measured, r.Acked, rows)
	}
}

// startSimAcked starts the simulated offices and waits until every one is
// connected and the fleet has acked as many batches as there are offices.
func startSimAcked(ctx context.Context, t *testing.T, sc fleetsim.Config) *fleetsim.Sim {
	t.Helper()
	sim := fleetsim.Start(ctx, sc)
	logSimOnFailure(t, sim)
	eventually(t, "all offices connected and acked", func() bool {
		r := sim.Report()
		return r.Connected == int64(sc.Offices) && r.AckedCount >= sc.Offices
	})
	return sim
}
