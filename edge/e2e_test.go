package edge

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	fleetconfig "github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/testserver"
)

// End-to-end: samples appended at the edge become rows in a real InfluxDB,
// through the real buffer, uplink, embedded broker and fleet. Each fault test
// asserts zero loss of committed samples by counting rows exactly.

func TestSamplesReachInfluxDB(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	d, _ := startEdge(t, edgeConfig(t, dataDir(t), f.Addrs().MQTT))
	appendSamples(t, d, 0, 2000)
	waitFor(t, 60*time.Second, "2000 rows in InfluxDB and an empty buffer", func() bool {
		return rows(t, in, "") == 2000 && d.buf.Stats().Count == 0
	})
	// The fleet adds the registry's tags so analysts can group by region.
	if n := rows(t, in, `"region"='Emilia-Romagna' AND "office"='12345'`); n != 2000 {
		t.Fatalf("rows with office and region tags = %d, want 2000", n)
	}
}

func TestUplinkOutageLosesNothing(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	addr := f.Addrs().MQTT
	d, _ := startEdge(t, edgeConfig(t, dataDir(t), addr))
	appendSamples(t, d, 0, 1000)
	// The buffer empties on the acks, after the rows land: wait for both,
	// or an ack still on its way when the fleet stops leaves its batch here.
	waitFor(t, 60*time.Second, "first 1000 rows and an empty buffer", func() bool {
		return rows(t, in, "") == 1000 && d.buf.Stats().Count == 0
	})

	f.stop() // the fleet and its broker go away: the office is cut off
	waitFor(t, 30*time.Second, "the edge to notice", func() bool { return !d.up.Stats().Connected })
	appendSamples(t, d, 1000, 3000)
	if got := d.buf.Stats().Count; got != 3000 {
		t.Fatalf("buffer holds %d samples during the outage, want 3000", got)
	}
	startFleet(t, in, addr)
	waitFor(t, 90*time.Second, "all 4000 rows after the link returns", func() bool {
		return rows(t, in, "") == 4000 && d.buf.Stats().Count == 0
	})
}

func TestInfluxDBDownFleetHoldsAcks(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	d, _ := startEdge(t, edgeConfig(t, dataDir(t), f.Addrs().MQTT))
	appendSamples(t, d, 0, 500)
	// Acked deletes ride the buffer's group commit: wait for them too, or
	// the count below also holds the first 500 (seen in CI under load).
	waitFor(t, 60*time.Second, "first rows stored and acked", func() bool { return rows(t, in, "") == 500 && d.buf.Stats().Count == 0 })

	in.Kill()
	appendSamples(t, d, 500, 1500)
	// While InfluxDB is down the fleet must not ack: the edge keeps every sample.
	waitFor(t, 30*time.Second, "the fleet to answer retry", func() bool { return d.up.Stats().FleetRetries > 0 })
	if got := d.buf.Stats().Count; got != 1500 {
		t.Fatalf("edge buffer holds %d with InfluxDB down, want all 1500 (something was acked without being stored)", got)
	}
	if err := in.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "all 2000 rows once InfluxDB is back", func() bool {
		return rows(t, in, "") == 2000 && d.buf.Stats().Count == 0
	})
}

func TestFleetRestartMidDrain(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	addr := f.Addrs().MQTT
	dir := dataDir(t)
	// Fill the buffer while the office has no link, as after a long outage.
	offline, stopOffline := startEdge(t, edgeConfig(t, dir, ""))
	appendSamples(t, offline, 0, 30000)
	stopOffline()

	cfg := edgeConfig(t, dir, addr)
	cfg.Uplink.BacklogRate = 5000 // slow enough that the restart lands mid-drain
	d, _ := startEdge(t, cfg)
	waitFor(t, 60*time.Second, "the drain to start", func() bool { return rows(t, in, "") > 0 })
	f.stop()
	if n := rows(t, in, ""); n >= 30000 {
		t.Fatalf("drain finished before the restart (%d rows): the test proves nothing", n)
	}
	startFleet(t, in, addr)
	waitFor(t, 120*time.Second, "all 30000 rows after the fleet restart", func() bool {
		return rows(t, in, "") == 30000 && d.buf.Stats().Count == 0
	})
}

// TestKill9LosesNoCommittedSample runs an edge as a child process that
// appends and prints what the buffer acknowledged, SIGKILLs it mid-stream,
// restarts the office in-process with the uplink on, and checks that every
// acknowledged sample reaches InfluxDB.
func TestKill9LosesNoCommittedSample(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	dir := dataDir(t)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "POLIS_E2E_CHILD="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 20000 {
		var from, n int
		if _, err := fmt.Sscanf(sc.Text(), "acked %d %d", &from, &n); err == nil {
			for i := from; i < from+n; i++ {
				acked[i] = true
			}
		}
	}
	child.Process.Signal(syscall.SIGKILL) // mid-stream: the child is still appending
	child.Wait()
	if len(acked) < 20000 {
		t.Fatalf("child acknowledged only %d samples before exiting", len(acked))
	}

	d, _ := startEdge(t, edgeConfig(t, dir, f.Addrs().MQTT))
	waitFor(t, 120*time.Second, "the recovered buffer to drain", func() bool { return d.buf.Stats().Count == 0 })
	lost := 0
	series, err := in.Query(`SELECT "id" FROM "e2e"`)
	if err != nil {
		t.Fatal(err)
	}
	present := map[int]bool{}
	for _, s := range series {
		for _, v := range s.Values {
			var id int
			fmt.Sscan(fmt.Sprint(v[1]), &id)
			present[id] = true
		}
	}
	for id := range acked {
		if !present[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged samples lost after kill -9", lost, len(acked))
	}
	t.Logf("%d acknowledged before the kill, %d in InfluxDB (the child went on appending while we stopped reading)", len(acked), len(present))
}

// childMain is the kill -9 victim: an offline office appending as fast as
// four producers can, printing each range the buffer acknowledged.
func childMain(dir string) {
	cfg := edgeConfigNoT(dir)
	d, err := New(cfg, quietLog(), "child")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	go d.Run(ctx)
	<-d.ready
	out := make(chan string, 64)
	for w := 0; w < 4; w++ {
		go func() {
			for i := w * 500; ; i += 4 * 500 {
				if err := d.Sink().Append(ctx, e2eSamples(i, 500)...); err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(1)
				}
				out <- fmt.Sprintf("acked %d %d", i, 500)
			}
		}()
	}
	for line := range out {
		fmt.Println(line)
	}
}

func edgeConfigNoT(dir string) config.Config {
	return edgeConfig(nil, dir, "")
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("POLIS_E2E_CHILD"); dir != "" {
		childMain(dir)
		return
	}
	os.Exit(m.Run())
}

func TestUplinkOverTLS(t *testing.T) {
	in := testserver.Influx(t)
	files := testserver.ServerTLS(t)
	f := startFleetWith(t, in, func(c *fleetconfig.Config) {
		c.Broker.Embedded.TLS = fleetconfig.TLS{Listen: "127.0.0.1:0", Cert: files.Cert, Key: files.Key}
	})
	cfg := edgeConfig(t, dataDir(t), f.Addrs().MQTTTLS)
	cfg.Uplink.URL = "ssl://" + f.Addrs().MQTTTLS
	cfg.Uplink.CAFile = files.CA
	d, _ := startEdge(t, cfg)
	appendSamples(t, d, 0, 500)
	waitFor(t, 60*time.Second, "500 rows over TLS", func() bool { return rows(t, in, "") == 500 })

	// An edge that does not trust the fleet's CA must not connect.
	bad := edgeConfig(t, dataDir(t), f.Addrs().MQTTTLS)
	bad.Uplink.URL = "ssl://" + f.Addrs().MQTTTLS
	other := testserver.ServerTLS(t)
	bad.Uplink.CAFile = other.CA
	untrusting, _ := startEdge(t, bad)
	waitFor(t, 30*time.Second, "a TLS verification error", func() bool {
		return strings.Contains(untrusting.up.Stats().LastError, "certificate")
	})
	if untrusting.up.Stats().Connects != 0 {
		t.Fatal("connected to a fleet whose certificate it cannot verify")
	}
}

func TestWrongPasswordIsRefused(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	cfg := edgeConfig(t, dataDir(t), f.Addrs().MQTT)
	cfg.Uplink.Password = "wrong"
	d, _ := startEdge(t, cfg)
	appendSamples(t, d, 0, 10)
	waitFor(t, 30*time.Second, "a refused connection", func() bool { return d.up.Stats().LastError != "" })
	if d.up.Stats().Connects != 0 || rows(t, in, "") != 0 {
		t.Fatal("an office with a wrong password got data into InfluxDB")
	}
	if d.buf.Stats().Count != 10 {
		t.Fatal("samples left the buffer without an ack")
	}
}
