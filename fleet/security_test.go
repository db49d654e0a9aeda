package fleet

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

func TestOfficeConfinedToItsOwnPrefix(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	f := startFleet(t, testConfig(in))
	addr := f.Addrs().MQTT

	for name, c := range map[string]struct{ id, pass string }{
		"wrong password": {"10001", "nope"},
		"unknown office": {"99999", "secret-a"},
		"no credentials": {"", ""},
	} {
		if _, err := connectOffice(t, addr, c.id, c.pass, false); err == nil {
			t.Fatalf("%s: CONNECT accepted", name)
		}
	}

	a := mustOffice(t, addr, "10001", "secret-a")
	if err := a.subscribeAcks("20002"); err == nil {
		t.Fatal("office 10001 could subscribe to office 20002's acks")
	}
	// A forged batch, internally consistent, on B's topic: the broker drops it
	// (and, MQTT 3.1.1 having no negative PUBACK, disconnects A).
	forged, _ := uplink.EncodeBatch(batch(t, "20002", 1000, 10))
	a.c.Publish(uplink.Topic("20002", uplink.KindTelemetry), 1, false, forged).WaitTimeout(5 * time.Second)
	eventually(t, "forging office disconnected", func() bool { return !a.c.IsConnectionOpen() })

	// A will on another office's status topic would let A mark B offline.
	b := mustOffice(t, addr, "20002", "secret-b")
	if _, err := connectOfficeWithWill(t, addr, "10001", "secret-a", uplink.Topic("20002", uplink.KindStatus)); err == nil {
		t.Fatal("CONNECT with a will on another office's topic accepted")
	}

	b.sendBatch(t, batch(t, "20002", 1, 10))
	if ack := b.waitAck(t, 1); ack.Status != uplink.AckOK || ack.Accepted != 10 {
		t.Fatalf("B's own batch: %+v", ack)
	}
	if n := countRows(t, in, "pv", "office='20002'"); n != 10 {
		t.Fatalf("rows for 20002 = %d, want only B's own 10", n)
	}
	if s := f.Status(); s.BatchesOK+s.BatchesRejected+s.BatchesRetry != 1 {
		t.Fatalf("fleet processed %+v, want exactly B's batch", s)
	}
}

func TestReloadRevokesAndAddsOffices(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	cfg := testConfig(in)
	f := startFleet(t, cfg)
	addr := f.Addrs().MQTT
	a := mustOffice(t, addr, "10001", "secret-a")

	next := cfg
	next.Offices = []config.Office{testOffices[1], {ID: "30003", Password: "new", Region: "Sicilia"}}
	if err := f.Reload(next); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked office disconnected", func() bool { return !a.c.IsConnectionOpen() })
	if _, err := connectOffice(t, addr, "10001", "secret-a", false); err == nil {
		t.Fatal("revoked office reconnected")
	}
	c := mustOffice(t, addr, "30003", "new")
	c.sendBatch(t, batch(t, "30003", 1, 4))
	if ack := c.waitAck(t, 1); ack.Status != uplink.AckOK {
		t.Fatalf("new office: %+v", ack)
	}
	if n := countRows(t, in, "pv", "office='30003' AND region='Sicilia'"); n != 4 {
		t.Fatalf("rows for the added office = %d, want 4 tagged Sicilia", n)
	}
	if o, _ := f.Office("10001"); o.Registered {
		t.Fatal("removed office still registered")
	}
}
