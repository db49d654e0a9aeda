package rules

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/rules/image"
)

// fakeImage serves a snapshot the test edits.
type fakeImage struct {
	mu   sync.Mutex
	snap image.Snapshot
}

func (f *fakeImage) Snapshot() image.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeImage) set(m, dev, field string, v any, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap.Values == nil {
		f.snap.Values = map[string]map[string]map[string]image.Value{}
	}
	if f.snap.Values[m] == nil {
		f.snap.Values[m] = map[string]map[string]image.Value{}
	}
	if f.snap.Values[m][dev] == nil {
		f.snap.Values[m][dev] = map[string]image.Value{}
	}
	f.snap.Values[m][dev][field] = image.Value{V: v, At: at}
}

type recordPub struct {
	mu   sync.Mutex
	msgs []string
}

func (p *recordPub) Publish(_ context.Context, topic string, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, topic+" "+string(payload))
	return nil
}

func TestUserRulesForDurationsAutoClearAndErrors(t *testing.T) {
	cfg := Config{ContractedKW: 6, GridMeter: "meter", Alerts: []AlertConfig{
		{Name: "co2-sala", When: "env.sala.co2_ppm > 1200 for 10m", Message: "ventilate the hall",
			Action: &ActionConfig{Topic: "cmnd/fan/POWER", Payload: "ON", ClearPayload: "OFF"}},
		{Name: "ratio", When: "grid.meter.power_w / env.sala.zero > 1"},
		{Name: "missing", When: "env.nowhere.temperature_c > 24"},
		{Name: "closed-warm", When: "office.closed && env.sala.temperature_c > 24", For: 30 * time.Minute},
	}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	now := t0
	img := &fakeImage{}
	img.set("grid", "meter", "power_w", 1000.0, now)
	img.set("env", "sala", "zero", 0.0, now)
	img.set("env", "sala", "temperature_c", 26.0, now)
	var rec testserver.Recorder
	pub := &recordPub{}
	r, err := NewRunner(cfg, Deps{Image: img, Sink: &rec, Publisher: pub, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go publisher(ctx, pub, r.alerts.pub, r.d.Log)

	kinds := func(d Decision) string {
		var k []string
		for _, e := range d.Events {
			k = append(k, e.Tags["kind"]+":"+e.Fields["rule"].(string))
		}
		return strings.Join(k, ",")
	}
	for i, c := range []struct {
		at   time.Duration
		co2  float64
		want string
	}{
		{0, 1300, ""},
		{5 * time.Minute, 1300, ""},
		{10 * time.Minute, 1300, "user_rule_fired:co2-sala"},
		{11 * time.Minute, 900, ""},
		{15 * time.Minute, 1300, ""}, // back over: the clear timer restarts
		{16 * time.Minute, 900, ""},
		{26 * time.Minute, 900, "user_rule_cleared:co2-sala"},
	} {
		now = t0.Add(c.at)
		img.set("grid", "meter", "power_w", 1000.0, now)
		img.set("env", "sala", "co2_ppm", c.co2, now)
		d := r.Cycle(ctx)
		if got := kinds(d); got != c.want {
			t.Errorf("step %d (t+%s): events %q, want %q", i, c.at, got, c.want)
		}
		// Division by zero and a missing value: no decision, counted.
		if d.Errors != 2 {
			t.Errorf("step %d: %d errors, want 2 (division by zero, missing value)", i, d.Errors)
		}
	}
	al := r.Allocation()
	for _, a := range al.Alerts {
		switch a.Name {
		case "ratio":
			if a.Firing || a.Errors != 7 || !strings.Contains(a.LastError, "division by zero") {
				t.Errorf("ratio rule: %+v", a)
			}
		case "closed-warm":
			// 10:00 on a Tuesday: the office is open, never fires.
			if a.Firing || a.Errors != 0 {
				t.Errorf("closed-warm: %+v", a)
			}
		}
	}
	testserver.WaitFor(t, "both actions published", func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return len(pub.msgs) == 2
	})
	if pub.msgs[0] != "cmnd/fan/POWER ON" || pub.msgs[1] != "cmnd/fan/POWER OFF" {
		t.Fatalf("actions %v", pub.msgs)
	}
}

func TestBadUserRuleIsAConfigErrorNamingTheKey(t *testing.T) {
	for _, c := range []struct{ when, want string }{
		{"env.sala.co2_ppm >", "rules.alerts[1].when"},
		{"1 + 2", "expected bool"},
		{"envv.sala.co2_ppm > 3", "unknown name envv"},
		{"env.sala.co2_ppm > 3 for soon", "rules.alerts[1].when: for"},
	} {
		cfg := Config{ContractedKW: 6, Alerts: []AlertConfig{{Name: "ok", When: "env.a.b > 1"}, {Name: "bad", When: c.when}}}
		cfg.ApplyDefaults()
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.when, err, c.want)
		}
	}
}

// waitUntil waits with the project's one wait helper (protocols/testserver).
