package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/fleetsim"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

const deadline = 30 * time.Second

// testTokens maps a fleet's HTTP address to an admin API token.
var testTokens sync.Map

var testOffices = []config.Office{
	{ID: "10001", Password: "secret-a", Name: "Ufficio Postale Rocca", Comune: "Rocca di Papa", ISTAT: "058091", Province: "RM", Region: "Lazio"},
	{ID: "20002", Password: "secret-b", Name: "Ufficio Postale Bardi", Comune: "Bardi", ISTAT: "034003", Province: "PR", Region: "Emilia-Romagna"},
}

// testLogger keeps the fleet's log and shows it only if the test fails; a
// goroutine logging after the test ended writes to the buffer, not to t.
func testLogger(t testing.TB) *slog.Logger {
	lb := &testserver.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fleet log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(in *testserver.InfluxDB) config.Config {
	cfg := config.Default()
	cfg.Instance = "test"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Broker.Embedded.TCP = "127.0.0.1:0"
	cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Bucket = in.URL, in.Token, in.Bucket
	cfg.Influx.Timeout = 5 * time.Second
	cfg.Offices = append([]config.Office(nil), testOffices...)
	return cfg
}

// startFleet runs a fleet until the test ends.
func startFleet(t testing.TB, cfg config.Config) *Fleet {
	t.Helper()
	f, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Every API route needs a user: an admin token for getJSON.
	f.Users().SetCost(bcrypt.MinCost)
	if err := f.Users().Add("test-admin", "test-admin-password", users.Admin, users.Scope{}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := f.Users().NewToken("test-admin", "tests")
	if err != nil {
		t.Fatal(err)
	}
	testTokens.Store(f.Addrs().HTTP, secret)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fleet Run: %v", err)
		}
	})
	return f
}

// office is a paho client acting as one office's edge uplink.
type office struct {
	id   string
	c    paho.Client
	acks chan uplink.Ack
	conn net.Conn // the raw connection, to simulate a dead link
	// pending holds acks that arrived while waiting for another seq: workers
	// run in parallel, so acks need not come in sending order.
	pending []uplink.Ack
}

func connectOffice(t testing.TB, addr, id, password string, will bool) (*office, error) {
	willTopic := ""
	if will {
		willTopic = uplink.Topic(id, uplink.KindStatus)
	}
	return connectOfficeWithWill(t, addr, id, password, willTopic)
}

// connectOfficeWithWill connects with an "offline" last will on willTopic ("" for none).
func connectOfficeWithWill(t testing.TB, addr, id, password, willTopic string) (*office, error) {
	o := &office{id: id, acks: make(chan uplink.Ack, 1000)}
	var mu sync.Mutex
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("edge-" + id).
		SetUsername(id).SetPassword(password).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.Dial("tcp", u.Host)
			mu.Lock()
			o.conn = c
			mu.Unlock()
			return c, err
		})
	if willTopic != "" {
		off, _ := jsonStatus(id, false)
		opts.SetBinaryWill(willTopic, off, 1, true)
	}
	o.c = paho.NewClient(opts)
	tok := o.c.Connect()
	if !tok.WaitTimeout(deadline) {
		return nil, fmt.Errorf("connect %s: timeout", id)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { o.c.Disconnect(100) })
	return o, nil
}

func mustOffice(t testing.TB, addr, id, password string) *office {
	t.Helper()
	o, err := connectOffice(t, addr, id, password, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.subscribeAcks(id); err != nil {
		t.Fatal(err)
	}
	return o
}

// subscribeAcks subscribes to an office's ack topic; the error reports a refused subscription.
func (o *office) subscribeAcks(of string) error {
	tok := o.c.Subscribe(uplink.Topic(of, uplink.KindAck), 1, func(_ paho.Client, m paho.Message) {
		if a, err := uplink.DecodeAck(m.Payload()); err == nil {
			o.acks <- a
		}
	})
	if !tok.WaitTimeout(deadline) {
		return fmt.Errorf("subscribe: timeout")
	}
	if err := tok.Error(); err != nil {
		return err
	}
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		if code >= 0x80 {
			return fmt.Errorf("subscribe %s refused (0x%x)", of, code)
		}
	}
	return nil
}

func (o *office) publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	tok := o.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(deadline) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func (o *office) sendBatch(t testing.TB, b uplink.Batch) {
	t.Helper()
	payload, err := uplink.EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	o.publish(t, uplink.Topic(o.id, uplink.KindTelemetry), payload)
}

func (o *office) waitAck(t testing.TB, seq uint64) uplink.Ack {
	t.Helper()
	for i, a := range o.pending {
		if a.Seq == seq {
			o.pending = append(o.pending[:i], o.pending[i+1:]...)
			return a
		}
	}
	timeout := time.After(deadline)
	for {
		select {
		case a := <-o.acks:
			if a.Seq == seq {
				return a
			}
			o.pending = append(o.pending, a)
		case <-timeout:
			t.Fatalf("office %s: no ack for seq %d", o.id, seq)
		}
	}
}

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// batch builds n pv samples for office starting at seq; timestamps follow seq,
// so the same seq always names the same points.
func batch(t testing.TB, office string, seq uint64, n int) uplink.Batch {
	t.Helper()
	var lines []byte
	for i := range n {
		s := sample.Sample{
			Measurement: "pv",
			Tags:        map[string]string{sample.TagDevice: "inv1"},
			Fields:      map[string]any{"W": float64(1000 + i), "St": int64(4)},
			Time:        t0.Add(time.Duration(seq+uint64(i)) * time.Second),
		}
		var err error
		if lines, err = s.AppendLine(lines); err != nil {
			t.Fatal(err)
		}
	}
	return uplink.Batch{Office: office, Seq: seq, Last: seq + uint64(n) - 1, Count: n, Lines: lines}
}

func countRows(t testing.TB, in *testserver.InfluxDB, measurement, where string) int {
	t.Helper()
	n, err := in.Count(measurement, where)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func timeAfter() <-chan time.Time { return time.After(deadline) }

// envInt, envDuration and envFloat read a benchmark's or long test's size from the
// environment, else def.
func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envFloat(k string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return def
}

// logSimOnFailure logs the simulated offices' report when the test fails:
// how many are connected, how many connects failed and the latest error say
// why a wait for every office timed out.
func logSimOnFailure(t *testing.T, sim *fleetsim.Sim) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the simulated offices at the end: %+v", sim.Report())
		}
	})
}
