package ocpp_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/polis-edge/polis/protocols/sample"
)

// pointKey is what InfluxDB keys a point by: measurement, tag set, time. Two
// samples with the same key are one point; the later overwrites the earlier.
func pointKey(s sample.Sample) string {
	tags := make([]string, 0, len(s.Tags))
	for k, v := range s.Tags {
		tags = append(tags, k+"="+v)
	}
	sort.Strings(tags)
	return fmt.Sprintf("%s,%s %d", s.Measurement, strings.Join(tags, ","), s.Time.UnixNano())
}

func kind(k string) func(sample.Sample) bool {
	return func(s sample.Sample) bool { return s.Measurement == "events" && s.Tags["kind"] == k }
}

// A buffer that refuses the append while a session starts must not lose the
// session's events: before the outbox, the charger's retry found the session
// saved and was answered without anything emitted.
func TestSessionEvents_SurviveBufferRefusal(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	c := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, c)
	h.rec.SetFail(true)
	frame := `[2,"s1","StartTransaction",{"connectorId":1,"idTag":"04A1B2C3","meterStart":100,"timestamp":"2026-01-01T10:00:00Z"}]`
	rawCall(t, c, frame)
	// A charger that got an error (or lost the answer) sends it again.
	resp := rawCall(t, c, strings.Replace(frame, `"s1"`, `"s2"`, 1))
	if resp[0].(float64) != 3 {
		t.Fatalf("repeated StartTransaction answered %v", resp)
	}
	txID := resp[2].(map[string]any)["transactionId"].(float64)
	stop := fmt.Sprintf(`[2,"s3","StopTransaction",{"transactionId":%d,"meterStop":150,"timestamp":"2026-01-01T10:30:00Z"}]`, int(txID))
	if r := rawCall(t, c, stop); r[0].(float64) != 3 {
		t.Fatalf("StopTransaction while the buffer refuses: %v", r)
	}
	h.rec.SetFail(false)
	h.rec.WaitFor(t, "session_started event", 1, kind("session_started"))
	h.rec.WaitFor(t, "session_stopped event", 1, kind("session_stopped"))
	stopped := h.rec.WaitFor(t, "stopped session", 1, measurement("session", "state", "stopped"))
	if len(stopped) != 1 || stopped[0].Fields["energy_wh"] != 50.0 {
		t.Errorf("stopped sessions %+v, want one of 50 Wh", stopped)
	}
	if n := len(h.rec.Find(kind("session_started"))); n != 1 {
		t.Errorf("session_started events = %d, want 1", n)
	}
}

// Sessions starting on two connectors at the same instant are two points in
// InfluxDB (connector is a tag), and the events of one session differ.
func TestSessionEvents_DistinctPerConnector(t *testing.T) {
	h := start(t, baseConfig(), openDB(t), &recorder{})
	c := dialRaw(t, h, "CP01", "ocpp1.6")
	bootRaw(t, c)
	for n := 1; n <= 2; n++ {
		rawCall(t, c, fmt.Sprintf(`[2,"s%d","StartTransaction",{"connectorId":%d,"idTag":"04A1B2C3","meterStart":0,"timestamp":"2026-01-01T10:00:00Z"}]`, n, n))
	}
	got := h.rec.WaitFor(t, "two session_started events", 2, kind("session_started"))
	got = append(got, h.rec.Find(measurement("session", "state", "started"))...)
	seen := map[string]bool{}
	for _, s := range got {
		if seen[pointKey(s)] {
			t.Errorf("two samples share the InfluxDB point %s", pointKey(s))
		}
		seen[pointKey(s)] = true
	}
	if len(seen) != 4 {
		t.Errorf("%d distinct points, want 4 (2 events, 2 session rows)", len(seen))
	}
}

// gatedSink holds appends of one charger's session rows until released, as
// a slow disk would; everything else goes straight to the recorder.
type gatedSink struct {
	rec     *recorder
	device  string
	blocked chan struct{} // closed when an append is held
	release chan struct{}
	once    sync.Once
}

func (g *gatedSink) Append(ctx context.Context, ss ...sample.Sample) error {
	for _, s := range ss {
		if s.Measurement == "session" && s.Tags[sample.TagDevice] == g.device {
			g.once.Do(func() { close(g.blocked) })
			select {
			case <-g.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			break
		}
	}
	return g.rec.Append(ctx, ss...)
}

// One charger's slow durable append must not stall another charger: no
// service-wide lock is held across I/O.
func TestSlowAppend_StallsNoOtherCharger(t *testing.T) {
	rec := &recorder{}
	g := &gatedSink{rec: rec, device: "CP01", blocked: make(chan struct{}), release: make(chan struct{})}
	svc := startWithSink(t, baseConfig(), openDB(t), g)
	c1 := dialRawURL(t, svc, "CP01", "ocpp1.6")
	c2 := dialRawURL(t, svc, "CP02", "ocpp1.6")
	bootRaw(t, c1)
	bootRaw(t, c2)
	answered1 := make(chan []any, 1)
	go func() {
		answered1 <- rawCallNoT(c1, `[2,"s1","StartTransaction",{"connectorId":1,"idTag":"04A1B2C3","meterStart":0,"timestamp":"2026-01-01T10:00:00Z"}]`)
	}()
	<-g.blocked
	resp := rawCall(t, c2, `[2,"s2","StartTransaction",{"connectorId":1,"idTag":"04A1B2C3","meterStart":0,"timestamp":"2026-01-01T10:00:00Z"}]`)
	if resp[0].(float64) != 3 {
		t.Fatalf("CP02 answer %v", resp)
	}
	select {
	case r := <-answered1:
		t.Fatalf("CP01 answered (%v) before its append was released: CP02 waited for it", r)
	default:
	}
	close(g.release)
	if r := <-answered1; r == nil || r[0].(float64) != 3 {
		t.Fatalf("CP01 answer %v", r)
	}
}
