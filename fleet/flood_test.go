package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/fleet/broker"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/fleetsim"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// TestFloodingOfficeIsThrottledWithoutHurtingOthers: among 200 simulated
// offices (POLIS_FLOOD_OFFICES: thousands, docs/benchmarks.md; POLIS_FLOOD_QOS
// and POLIS_FLOOD_LIVE set their uplink.qos and live_interval), one
// publishes 600 batches as fast as it can and loops on reconnecting. Its
// publishes beyond its burst wait for tokens in its own connection
// (counted), its extra connects are refused (counted), none of its batches
// is lost; the others lose nothing and never resend.
func TestFloodingOfficeIsThrottledWithoutHurtingOthers(t *testing.T) {
	sc := fleetsim.Config{Offices: envInt("POLIS_FLOOD_OFFICES", 200), ConnectRate: 500, AckTimeout: 30 * time.Second,
		QoS0: envInt("POLIS_FLOOD_QOS", 1) == 0, Flush: envDuration("POLIS_FLOOD_LIVE", time.Second)}
	in, cfg := simFleet(t, &sc)
	cfg.Broker.Embedded.OfficeLimits = config.OfficeLimits{MessagesPerSecond: 50, BytesPerSecond: 1 << 20, ConnectsPerMinute: 12, MaxWait: 2 * time.Second}
	const flooder = "99001"
	cfg.Offices = append(cfg.Offices, config.Office{ID: flooder, Password: "flood-flood-flood", Region: "Lazio"})
	f := startFleet(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := fleetsim.Start(ctx, sc)
	logSimOnFailure(t, sim)
	// Thousands of offices take longer than the usual deadline to connect.
	within := deadline + time.Duration(sc.Offices/50)*time.Second
	testserver.WaitForWithin(t, within, "the simulated offices connected and acked", func() bool {
		r := sim.Report()
		return r.Connected == int64(sc.Offices) && r.AckedCount >= sc.Offices
	})

	connect := func(id string) (paho.Client, error) {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(sc.Broker).SetClientID(id).
			SetUsername(flooder).SetPassword("flood-flood-flood").SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4))
		tok := c.Connect()
		tok.WaitTimeout(10 * time.Second)
		return c, tok.Error()
	}
	c, err := connect("edge-" + flooder)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	const batches, lines = 600, 5
	var toks []paho.Token
	for i := range batches {
		var body []byte
		for l := range lines {
			body = fmt.Appendf(body, "flood,office=%s,device=x n=%di %d\n", flooder, i*lines+l, time.Now().Add(-time.Hour).UnixNano()+int64(i*lines+l))
		}
		payload, _ := uplink.EncodeBatch(uplink.Batch{Office: flooder, Seq: uint64(i*lines + 1), Last: uint64(i*lines + lines), Count: lines, Lines: body})
		toks = append(toks, c.Publish(uplink.Topic(flooder, uplink.KindTelemetry), 1, false, payload))
	}
	// Meanwhile a reconnect loop under the same office's name.
	refused := 0
	for i := range 30 {
		rc, err := connect(fmt.Sprintf("loop-%d", i))
		if err != nil {
			refused++
			continue
		}
		rc.Disconnect(0)
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(2 * time.Minute) {
			t.Fatal("a flooding publish was never acknowledged by the broker")
		}
	}
	eventually(t, "every flooded batch in InfluxDB", func() bool {
		n, err := in.Count("flood", "")
		return err == nil && n == batches*lines
	})
	th := f.embedded.Throttled()
	// Beyond the burst of 100 every publish waits, less what refills while
	// the 600 are being sent (on a loaded box sending them takes seconds:
	// 266 and 458 seen); without limits none would.
	if th[broker.ThrottleRate] < 150 || th[broker.ThrottleTooLarge] != 0 {
		t.Errorf("throttled %v: want at least 150 publishes held to the rate", th)
	}
	if refused < 10 || th[broker.ThrottleReconnect] != uint64(refused) {
		t.Errorf("%d of 30 reconnects refused, %d counted: want most refused, all counted", refused, th[broker.ThrottleReconnect])
	}

	sim.Pause()
	testserver.WaitForWithin(t, within, "every simulated line acked", func() bool { return sim.Report().Pending == 0 })
	r := sim.Report()
	rows := simRows(t, in)
	if int64(rows) != r.Measured || r.Resent != 0 || r.Rejected != 0 {
		t.Fatalf("the other offices: measured %d, InfluxDB %d rows, resent %d batches, rejected %d", r.Measured, rows, r.Resent, r.Rejected)
	}
	t.Logf("flooder throttled %v, %d reconnects refused; %d other offices: %d lines, ack p50 %s p99 %s", th, refused, r.Offices, r.Measured, r.P50, r.P99)
}
