package alarms

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

var (
	rome    = Place{Office: "10001", Region: "Lazio", Province: "RM"}
	potenza = Place{Office: "30001", Region: "Basilicata", Province: "PZ"}
	quiet   = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func newManager(t *testing.T, dir string, n Notifier) (*Manager, *state.Bolt) {
	t.Helper()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(st, n, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

// TestLifecycle: active/cleared × unack/ack, with who, when and comment;
// events raise and their ending events clear; repeats stay one alarm; the
// state survives reopening the store.
func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	m, st := newManager(t, dir, nil)
	t1 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	leak := sample.Event("s1", "water_leak", sample.SeverityCritical, "water under the counter", t1, nil)
	for range 3 { // repeats (redeliveries, a flapping sensor) are one alarm
		if err := m.Event(rome, leak); err != nil {
			t.Fatal(err)
		}
	}
	m.Event(rome, sample.Event("inv1", "inverter_event", sample.SeverityWarning, "ground fault", t1, map[string]any{"event": "GROUND_FAULT", "active": true}))
	m.Event(rome, sample.Event("inv1", "inverter_event", sample.SeverityWarning, "over temp", t1, map[string]any{"event": "OVER_TEMP", "active": true}))
	m.Event(rome, sample.Event("s1", "device_ok", sample.SeverityInfo, "fine", t1, nil)) // ends nothing open here
	open := m.Open(Query{Sort: "severity"})
	if len(open) != 3 || open[0].Kind != "water_leak" || open[0].Count != 3 || !open[0].Active || open[0].Acked {
		t.Fatalf("open: %+v", open)
	}
	id := open[0].ID
	a, err := m.Ack(id, "anna", "plumber called")
	if err != nil || !a.Acked || a.AckedBy != "anna" || a.AckComment != "plumber called" || a.AckedAt.IsZero() || !a.Active {
		t.Fatalf("ack: %+v %v", a, err)
	}
	if _, err := m.Ack(id, "bob", ""); err == nil {
		t.Fatal("acknowledged twice")
	}
	// The leak ends: acked + cleared = closed, gone from the open list.
	m.Event(rome, sample.Event("s1", "water_leak_cleared", sample.SeverityInfo, "dry", t1.Add(time.Minute), nil))
	// One SunSpec event bit ends, the other stays.
	m.Event(rome, sample.Event("inv1", "inverter_event", sample.SeverityInfo, "ground fault gone", t1.Add(time.Minute), map[string]any{"event": "GROUND_FAULT", "active": false}))
	open = m.Open(Query{})
	if len(open) != 2 {
		t.Fatalf("after clears: %+v", open)
	}
	for _, a := range open {
		switch a.Detail {
		case "GROUND_FAULT":
			if a.Active || a.ClearedBy != "auto" || a.Acked {
				t.Fatalf("cleared unacked alarm: %+v", a)
			}
		case "OVER_TEMP":
			if !a.Active {
				t.Fatalf("other bit cleared too: %+v", a)
			}
		default:
			t.Fatalf("unexpected open alarm %+v", a)
		}
	}
	st.Close()

	m2, st2 := newManager(t, dir, nil)
	defer st2.Close()
	if got := m2.Open(Query{}); len(got) != 2 {
		t.Fatalf("open after reopen: %+v", got)
	}
	hist, err := m2.History(Query{Office: "10001"})
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	for _, a := range hist {
		if a.Kind == "water_leak" && (a.Active || !a.Acked || a.AckedBy != "anna" || a.ClearedBy != "auto") {
			t.Fatalf("closed leak alarm after reopen: %+v", a)
		}
	}
}

func TestHealthAndSilence(t *testing.T) {
	m, st := newManager(t, t.TempDir(), nil)
	defer st.Close()
	now := time.Now().UTC()
	m.Health(potenza, map[string]string{"inv1": "unreachable", "m1": "ok", "c1": "misconfigured"}, now)
	m.Silence(rome, true, 6*time.Minute, now)
	m.Silence(rome, true, 7*time.Minute, now) // still silent: no second alarm
	counts := m.CountsBy(func(p Place) string { return p.Region }, nil)
	if counts["Basilicata"].Critical != 1 || counts["Basilicata"].Warning != 1 || counts["Lazio"].Critical != 1 || counts["Lazio"].Total != 1 {
		t.Fatalf("counts: %+v", counts)
	}
	m.Health(potenza, map[string]string{"inv1": "ok", "c1": "stale"}, now)
	m.Silence(rome, false, 0, now)
	active := 0
	kinds := map[string]bool{}
	for _, a := range m.Open(Query{}) {
		if a.Active {
			active++
			kinds[a.Kind] = true
		}
	}
	if active != 1 || !kinds["device_stale"] {
		t.Fatalf("active after recovery: %d %v", active, kinds)
	}
	if got := m.Open(Query{Allowed: func(p Place) bool { return p.Region == "Lazio" }}); len(got) != 1 || got[0].Kind != OfficeOffline || got[0].Active {
		t.Fatalf("Lazio alarms: %+v", got)
	}
}

// TestWebhookSignedRetriedScoped: a receiver failing twice gets the
// message on the third attempt, signed; a hook scoped to Lazio never sees
// Basilicata.
func TestWebhookSignedRetriedScoped(t *testing.T) {
	var mu sync.Mutex
	var got []Message
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if r.Header.Get(SignatureHeader) != Sign("s3cret", body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m Message
		json.Unmarshal(body, &m)
		got = append(got, m)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hooks := NewWebhooks(ctx, []Hook{{URL: srv.URL, Secret: "s3cret", Allowed: func(p Place) bool { return p.Region == "Lazio" }}}, quiet)
	hooks.Backoff = time.Millisecond
	m, st := newManager(t, t.TempDir(), hooks)
	defer st.Close()
	m.Raise(Condition{Place: potenza, Kind: "smoke_alarm", Severity: Critical})
	m.Raise(Condition{Place: rome, Kind: "water_leak", Severity: Critical, Message: "leak"})
	testserver.WaitFor(t, "webhook delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	// The receiver records the message before its 200 reaches the sender,
	// so the sender's count can trail by a moment.
	testserver.WaitFor(t, "webhook counted as sent", func() bool { return hooks.Sent.Load() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if got[0].Event != "raised" || got[0].Alarm.Office != "10001" || got[0].Alarm.Kind != "water_leak" || attempts != 3 {
		t.Fatalf("delivered %+v after %d attempts", got, attempts)
	}
	if hooks.Sent.Load() != 1 || hooks.Failed.Load() != 0 {
		t.Fatalf("sent %d failed %d", hooks.Sent.Load(), hooks.Failed.Load())
	}
}
