package fleet

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/polis-edge/polis/fleet/broker"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/fleetsim"
	"github.com/polis-edge/polis/protocols/testserver"
)

const natsFleetUser, natsFleetPassword = "polis-fleet", "fleet-secret-0123456789"

// natsFleet runs one fleet instance in cluster mode against nodes.
func natsFleet(t *testing.T, in *testserver.InfluxDB, nodes []*testserver.NATSNode, offices []config.Office, name string) (stop func()) {
	_, stop = natsFleetInstance(t, in, nodes, offices, name)
	return stop
}

func natsFleetInstance(t *testing.T, in *testserver.InfluxDB, nodes []*testserver.NATSNode, offices []config.Office, name string) (*Fleet, func()) {
	f, err := New(natsInstanceConfig(in, nodes, offices, name), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	eventually(t, name+" ready", func() bool { return f.bus.Ready() == nil })
	var once bool
	return f, func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fleet %s Run: %v", name, err)
		}
	}
}

// natsInstanceConfig is fleet instance name's config in cluster mode.
func natsInstanceConfig(in *testserver.InfluxDB, nodes []*testserver.NATSNode, offices []config.Office, name string) config.Config {
	cfg := testConfig(in)
	cfg.Instance = name
	cfg.Offices = offices
	cfg.Broker.Mode = "nats"
	cfg.Broker.External.URL = "tcp://" + nodes[0].MQTT
	cfg.Broker.External.FallbackURLs = nil
	for _, n := range nodes[1:] {
		cfg.Broker.External.FallbackURLs = append(cfg.Broker.External.FallbackURLs, "tcp://"+n.MQTT)
	}
	cfg.Broker.External.ClientID = "fleet-" + name
	cfg.Broker.External.Username, cfg.Broker.External.Password = natsFleetUser, natsFleetPassword
	cfg.Broker.NATS.URLs = nil
	for _, n := range nodes {
		cfg.Broker.NATS.URLs = append(cfg.Broker.NATS.URLs, "nats://"+n.Client)
	}
	cfg.Broker.NATS.Username, cfg.Broker.NATS.Password = natsFleetUser, natsFleetPassword
	cfg.Broker.NATS.AckWait = 5 * time.Second
	return cfg
}

// TestNATSClusterLosesNothingWhenANodeAndAFleetInstanceDie runs the cluster
// mode end to end: 3 NATS nodes with JetStream and MQTT, two fleet instances
// sharing the telemetry work queue, and simulated offices speaking MQTT to
// the nodes. Mid-ingest one node is killed and one fleet instance stops;
// every measured line must still be exactly one row in InfluxDB.
func TestNATSClusterLosesNothingWhenANodeAndAFleetInstanceDie(t *testing.T) {
	// QoS 1 is the edge's default; QoS 0 is what docs/deployment.md advises
	// on a cluster (uplink.qos). Both must lose nothing.
	for _, qos0 := range []bool{false, true} {
		t.Run(fmt.Sprintf("qos0=%v", qos0), func(t *testing.T) { natsClusterLosesNothing(t, qos0) })
	}
}

func natsClusterLosesNothing(t *testing.T, qos0 bool) {
	in := testserver.Influx(t)
	sc := fleetsim.Config{Offices: 40, ConnectRate: 100, AckTimeout: 8 * time.Second, QoS0: qos0,
		Password: func(id string) string { return "office-secret-" + id }}
	offices, nodes := simNATSCluster(t, &sc)

	fleetA, stopA := natsFleetInstance(t, in, nodes, offices, "a")
	defer stopA()
	fleetB, stopB := natsFleetInstance(t, in, nodes, offices, "b")
	defer stopB()

	// The fleet's own state is in the cluster: what one instance writes,
	// the other serves.
	fleetA.Users().SetCost(bcrypt.MinCost)
	if err := fleetA.Users().Add("anna", "anna-password-1", users.Operator, users.Scope{Region: "Basilicata"}); err != nil {
		t.Fatal(err)
	}
	if u, err := fleetB.Users().Authenticate("anna", "anna-password-1"); err != nil || u.Scope.Region != "Basilicata" {
		t.Fatalf("a user added on instance a is not known to instance b: %+v %v", u, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := fleetsim.Start(ctx, sc)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulated offices: %+v; InfluxDB rows: %d", sim.Report(), simRows(t, in))
		}
	})
	eventually(t, "all offices connected and acked", func() bool {
		r := sim.Report()
		return r.Connected == int64(sc.Offices) && r.AckedCount >= 2*sc.Offices
	})
	if os.Getenv("NATS_NO_KILL") == "" {
		nodes[0].Kill() // offices and fleet a lose their MQTT node and move to another
	}
	if os.Getenv("NATS_NO_STOP") == "" {
		stopA() // and one fleet instance goes away: b takes all the work
	}
	time.Sleep(3 * time.Second)
	sim.Pause()
	// A node's death moves JetStream leaders and every MQTT session on it:
	// give the cluster minutes, not the usual 30 s, on a loaded test machine.
	testserver.WaitForWithin(t, 90*time.Second, "every measured line acked", func() bool { return sim.Report().Pending == 0 })

	r := sim.Report()
	rows := simRows(t, in)
	if os.Getenv("NATS_NO_KILL") == "" && r.Lost == 0 {
		t.Fatalf("no office lost its connection: the node kill tested nothing (%+v)", r)
	}
	if r.Rejected != 0 || int64(rows) != r.Measured || r.Acked != r.Measured {
		t.Fatalf("measured %d lines, acked %d, rejected %d, InfluxDB holds %d rows", r.Measured, r.Acked, r.Rejected, rows)
	}
	t.Logf("%d offices, %d lines, %d batches (%d resent), %d reconnects, ack p50 %s p99 %s",
		r.Offices, r.Measured, r.Batches, r.Resent, r.Connects-int64(r.Offices), r.P50, r.P99)
}

// TestNATSAuthorizationKeepsOfficesInTheirOwnPrefix checks the generated
// credentials on a real cluster: an office cannot publish into another
// office's telemetry, and a wrong password is refused.
func TestNATSAuthorizationKeepsOfficesInTheirOwnPrefix(t *testing.T) {
	offices := []config.Office{{ID: "10001", Password: "pw-one-0123456789"}, {ID: "10002", Password: "pw-two-0123456789"}}
	auth, err := broker.NATSAuthorization(offices, natsFleetUser, natsFleetPassword)
	if err != nil {
		t.Fatal(err)
	}
	nodes := testserver.NATSCluster(t, 1, auth)
	addr := nodes[0].MQTT
	if _, err := connectOffice(t, addr, "10001", "wrong-password", false); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	spy, err := connectOffice(t, addr, "10002", "pw-two-0123456789", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.subscribeAcks("10001"); err == nil {
		t.Fatal("office 10002 may subscribe to office 10001's acks")
	}
	own, err := connectOffice(t, addr, "10002", "pw-two-0123456789", false)
	if err == nil {
		err = own.subscribeAcks("10002")
	}
	if err != nil {
		t.Fatalf("office 10002 cannot use its own prefix: %v", err)
	}
}

// simRows counts the rows the simulated offices' measurements left in InfluxDB.
func simRows(t testing.TB, in *testserver.InfluxDB) int {
	rows := 0
	for _, m := range []string{"inverter", "meter", "charger", "env", "locker"} {
		n, err := in.Count(m, "")
		if err != nil {
			t.Fatal(err)
		}
		rows += n
	}
	return rows
}

// simNATSCluster registers sc's offices, starts a 3-node cluster that
// authorises them from that registry, and points sc at its MQTT listeners.
func simNATSCluster(t testing.TB, sc *fleetsim.Config) ([]config.Office, []*testserver.NATSNode) {
	t.Helper()
	offices := simOffices(t, *sc)
	auth, err := broker.NATSAuthorization(offices, natsFleetUser, natsFleetPassword)
	if err != nil {
		t.Fatal(err)
	}
	nodes := testserver.NATSCluster(t, 3, auth)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "tcp://"+n.MQTT)
	}
	sc.Broker = strings.Join(urls, ",")
	return offices, nodes
}
