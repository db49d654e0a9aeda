package fleet

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/polis-edge/polis/protocols/mqtt/brokerlisten"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// plainBroker is a stand-in for the operator's clustered broker: a separate
// mochi server without auth, with shared subscriptions.
func plainBroker(t *testing.T) (*mqtt.Server, string) {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := brokerlisten.NewTCP("t", "127.0.0.1:0", nil)
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, l.Address()
}

func TestTwoFleetsSplitTelemetryThroughSharedSubscription(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	srv, addr := plainBroker(t)
	var fleets []*Fleet
	for i := range 2 {
		cfg := testConfig(in)
		cfg.Offices = nil // credentials live in the external broker
		cfg.Broker.Mode = "external"
		cfg.Broker.External.URL = "tcp://" + addr
		cfg.Broker.External.ClientID = fmt.Sprintf("fleet-%d", i)
		fleets = append(fleets, startFleet(t, cfg))
	}
	shared := "$share/polis-fleet/" + uplink.Wildcard(uplink.KindTelemetry)
	eventually(t, "both fleets subscribed", func() bool {
		return len(srv.Topics.Subscribers(uplink.Topic("1", uplink.KindTelemetry)).Shared[shared]) == 2
	})

	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("offices"))
	if tok := pub.Connect(); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	acks := make(chan uplink.Ack, 100)
	pub.Subscribe(uplink.Wildcard(uplink.KindAck), 1, func(_ paho.Client, m paho.Message) {
		a, _ := uplink.DecodeAck(m.Payload())
		acks <- a
	}).WaitTimeout(deadline)

	const batches, per = 40, 5
	for i := range batches {
		id := fmt.Sprintf("3%04d", i)
		payload, _ := uplink.EncodeBatch(batch(t, id, 1, per))
		pub.Publish(uplink.Topic(id, uplink.KindTelemetry), 1, false, payload).WaitTimeout(deadline)
	}
	for range batches {
		a := waitChan(t, acks)
		if a.Status != uplink.AckOK || a.Accepted != per {
			t.Fatalf("ack %+v", a)
		}
	}
	n0, n1 := fleets[0].Status().BatchesOK, fleets[1].Status().BatchesOK
	if n0 == 0 || n1 == 0 || n0+n1 != batches {
		t.Fatalf("fleets processed %d and %d batches, want a split of %d", n0, n1, batches)
	}
	if n := countRows(t, in, "pv", ""); n != batches*per {
		t.Fatalf("rows = %d, want %d", n, batches*per)
	}
}

func waitChan[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-timeAfter():
		t.Fatal("timed out")
	}
	panic("unreachable")
}
