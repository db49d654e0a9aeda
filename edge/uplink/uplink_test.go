package uplink

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/protocols/mqtt/brokerlisten"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// scriptedFleet is the fleet's side of the protocol over a real broker: it
// decodes every batch, records its lines and answers with the status that
// decide returns. The real fleet is tested against the edge in the e2e tests.
type scriptedFleet struct {
	srv       *mqtt.Server
	addr      string
	closeOnce sync.Once

	mu      sync.Mutex
	samples map[string]int // line -> times received
	batches int
	qos     map[byte]int // batches received per MQTT QoS
	decide  func(b wire.Batch, n int) string
}

func startFleet(t *testing.T, addr string) *scriptedFleet {
	t.Helper()
	f := &scriptedFleet{samples: map[string]int{}, qos: map[byte]int{}, decide: func(wire.Batch, int) string { return wire.AckOK }}
	f.srv = mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.srv.AddHook(new(auth.AllowHook), nil)
	l := brokerlisten.NewTCP("tcp", addr, nil)
	if err := f.srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	f.addr = l.Address()
	err := f.srv.Subscribe(wire.Wildcard(wire.KindTelemetry), 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		b, err := wire.DecodeBatch(pk.Payload)
		if err != nil {
			t.Errorf("edge sent an undecodable batch: %v", err)
			return
		}
		f.mu.Lock()
		f.batches++
		f.qos[pk.FixedHeader.Qos]++
		status := f.decide(b, f.batches)
		if status == wire.AckOK {
			sample.ForEachLine(b.Lines, func(_ sample.Sample, raw []byte) error {
				f.samples[string(raw)]++
				return nil
			})
		}
		f.mu.Unlock()
		ack, _ := json.Marshal(wire.Ack{Seq: b.Seq, Last: b.Last, Status: status, Accepted: b.Count})
		f.srv.Publish(wire.Topic(b.Office, wire.KindAck), ack, false, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	go f.srv.Serve()
	t.Cleanup(f.close)
	return f
}

func (f *scriptedFleet) close() { f.closeOnce.Do(func() { f.srv.Close() }) }

func (f *scriptedFleet) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches
}

func (f *scriptedFleet) distinct() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.samples)
}

func openBuffer(t *testing.T) *buffer.Buffer {
	t.Helper()
	b, err := buffer.Open(filepath.Join(t.TempDir(), "buffer.db"), buffer.Options{CommitInterval: 10 * time.Millisecond, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func appendN(t *testing.T, b *buffer.Buffer, from, n int) {
	t.Helper()
	base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	batch := make([]sample.Sample, 0, n)
	for i := from; i < from+n; i++ {
		batch = append(batch, sample.Sample{
			Measurement: "pv", Tags: map[string]string{"office": "12345", "device": "inv1"},
			Fields: map[string]any{"ac_power_w": float64(i)}, Time: base.Add(time.Duration(i) * time.Second),
		})
	}
	if err := b.Append(context.Background(), batch...); err != nil {
		t.Fatal(err)
	}
}

func options(addr string) Options {
	return Options{
		Office: "12345", URL: "tcp://" + addr, BatchSamples: 100, BatchBytes: 1 << 20, Window: 4,
		AckTimeout: 2 * time.Second, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		StatusInterval: time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func run(t *testing.T, u *Uplink) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// eventually is the project's one wait helper (protocols/testserver).
var eventually = testserver.WaitFor

func TestBacklogAndLiveDrainCompletely(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	buf := openBuffer(t)
	appendN(t, buf, 0, 1000) // backlog: there before the uplink connects
	u := New(options(f.addr), buf)
	run(t, u)
	appendN(t, buf, 1000, 500) // live
	eventually(t, "all 1500 samples stored and deleted from the buffer", func() bool {
		return f.distinct() == 1500 && buf.Stats().Count == 0
	})
	if st := u.Stats(); st.SamplesAcked != 1500 {
		t.Fatalf("samples acked = %d, want 1500", st.SamplesAcked)
	}
}

// uplink.qos 0 (for NATS clusters) sends batches at QoS 0 and still loses
// nothing: the fleet's ack, not the broker's PUBACK, frees the buffer.
func TestQoS0UplinkDeliversEverything(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	buf := openBuffer(t)
	appendN(t, buf, 0, 1000)
	o := options(f.addr)
	o.QoS0 = true
	u := New(o, buf)
	run(t, u)
	appendN(t, buf, 1000, 500)
	eventually(t, "all 1500 samples stored and deleted from the buffer", func() bool {
		return f.distinct() == 1500 && buf.Stats().Count == 0
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.qos[1] != 0 || f.qos[0] == 0 {
		t.Fatalf("batches per QoS = %v, want all at QoS 0", f.qos)
	}
}

func TestLiveIsNotHeldBehindBacklog(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	buf := openBuffer(t)
	appendN(t, buf, 0, 5000)
	opt := options(f.addr)
	opt.BacklogRate = 200 // 5000 samples of backlog take ~25 s at this rate
	u := New(opt, buf)
	run(t, u)
	eventually(t, "the uplink to connect", func() bool { return u.Stats().Connected })
	appendN(t, buf, 100000, 10)
	eventually(t, "live samples to arrive", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for line := range f.samples {
			if strings.Contains(line, "ac_power_w=100009") {
				return true
			}
		}
		return false
	})
	if got := f.distinct(); got > 2000 {
		t.Fatalf("backlog rate not applied: %d samples arrived before the live ones", got)
	}
}

func TestRetryStatusHoldsAndResends(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	f.decide = func(_ wire.Batch, n int) string {
		if n <= 2 {
			return wire.AckRetry // InfluxDB down for the first two batches
		}
		return wire.AckOK
	}
	buf := openBuffer(t)
	appendN(t, buf, 0, 150)
	u := New(options(f.addr), buf)
	run(t, u)
	eventually(t, "every sample stored despite the retries", func() bool {
		return f.distinct() == 150 && buf.Stats().Count == 0
	})
	if st := u.Stats(); st.FleetRetries < 2 || st.BatchesResent < 1 {
		t.Fatalf("want retries counted and resent, got %+v", st)
	}
}

func TestRejectedBatchIsDroppedAndCounted(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	f.decide = func(_ wire.Batch, n int) string {
		if n == 1 {
			return wire.AckRejected
		}
		return wire.AckOK
	}
	buf := openBuffer(t)
	appendN(t, buf, 0, 100) // exactly one batch
	u := New(options(f.addr), buf)
	run(t, u)
	eventually(t, "the rejected batch to leave the buffer", func() bool { return buf.Stats().Count == 0 })
	if got := buf.Stats().Dropped["fleet_rejected"]; got != 100 {
		t.Fatalf("fleet_rejected drops = %d, want 100", got)
	}
}

func TestBrokerOutageLosesNothing(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	addr := f.addr
	buf := openBuffer(t)
	u := New(options(addr), buf)
	run(t, u)
	appendN(t, buf, 0, 300)
	// Deletes of acked ranges are asynchronous: wait for them too, so the
	// count below is exactly what the outage produced.
	eventually(t, "first samples stored and deleted", func() bool { return f.distinct() == 300 && buf.Stats().Count == 0 })
	f.close()
	eventually(t, "the uplink to notice", func() bool { return !u.Stats().Connected })
	appendN(t, buf, 300, 700) // produced during the outage
	if buf.Stats().Count != 700 {
		t.Fatalf("buffer holds %d during the outage, want 700", buf.Stats().Count)
	}
	f2 := startFleet(t, addr)
	eventually(t, "the outage backlog to reach the new fleet", func() bool {
		return f2.distinct() == 700 && buf.Stats().Count == 0
	})
	if c := u.Stats().Connects; c < 2 {
		t.Fatalf("connects = %d, want a reconnect", c)
	}
}

func TestBackoffHasJitterAndBounds(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		d := backoff(10, time.Second, 8*time.Second)
		if d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("backoff %s outside [max/2, max]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 50 draws: reconnects would march in step", len(seen))
	}
	if d := backoff(1, time.Second, time.Minute); d > time.Second {
		t.Fatalf("first back-off %s exceeds reconnect_min", d)
	}
}

// A device changing state reaches the fleet at once, not at the next status
// refresh (a minute here): facility managers watch that column.
func TestDeviceStateChangePublishesStatus(t *testing.T) {
	f := startFleet(t, "127.0.0.1:0")
	statuses := make(chan wire.Status, 16)
	f.srv.Subscribe(wire.Wildcard(wire.KindStatus), 2, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var st wire.Status
		if json.Unmarshal(pk.Payload, &st) == nil {
			statuses <- st
		}
	})
	var mu sync.Mutex
	devices := map[string]string{"inv1": "unreachable"}
	opt := options(f.addr)
	opt.Status = func() wire.Status {
		mu.Lock()
		defer mu.Unlock()
		return wire.Status{Office: "12345", Devices: maps.Clone(devices)}
	}
	u := New(opt, openBuffer(t))
	run(t, u)
	waitStatus := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case st := <-statuses:
				if st.Online && st.Devices["inv1"] == want {
					return
				}
			case <-deadline:
				t.Fatalf("no status with inv1=%s within 10 s (status_interval is %s)", want, opt.StatusInterval)
			}
		}
	}
	waitStatus("unreachable") // the status published on connect
	mu.Lock()
	devices["inv1"] = "ok"
	mu.Unlock()
	waitStatus("ok")
}
