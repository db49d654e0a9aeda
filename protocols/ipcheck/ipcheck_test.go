package ipcheck

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

func stateOf(s *Service, id string) health.State {
	for _, d := range s.Devices() {
		if d.ID == id {
			return d.State
		}
	}
	return "missing"
}

// TestTCPAndHTTPChecks: real listeners. An ATM port that closes becomes
// unreachable after fail_after failures and ok again when it reopens; a
// kiosk answering 503 is unreachable, 200 ok. State changes are events.
func TestTCPAndHTTPChecks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	atmAddr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var kioskStatus atomic.Int32
	kioskStatus.Store(200)
	kiosk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(kioskStatus.Load())) }))
	defer kiosk.Close()

	cfg := Config{Devices: []Device{
		{ID: "atm1", Kind: "atm", Check: "tcp", Address: atmAddr, Interval: time.Second, Timeout: 500 * time.Millisecond},
		{ID: "totem1", Kind: "kiosk", Check: "http", URL: kiosk.URL + "/health", Interval: time.Second, Timeout: 500 * time.Millisecond},
	}}
	cfg.ApplyDefaults()
	rec := &testserver.Recorder{}
	s, err := New(cfg, rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	testserver.WaitFor(t, "both ok", func() bool { return stateOf(s, "atm1") == health.OK && stateOf(s, "totem1") == health.OK })
	ln.Close()
	kioskStatus.Store(503)
	testserver.WaitFor(t, "both unreachable", func() bool {
		return stateOf(s, "atm1") == health.Unreachable && stateOf(s, "totem1") == health.Unreachable
	})
	kioskStatus.Store(200)
	testserver.WaitFor(t, "kiosk ok again", func() bool { return stateOf(s, "totem1") == health.OK })

	kinds := map[string]int{}
	for _, smp := range rec.Find(func(sample.Sample) bool { return true }) {
		if smp.Measurement == "events" {
			kinds[smp.Tags["device"]+"/"+smp.Tags["kind"]]++
		}
	}
	if kinds["atm1/device_ok"] != 1 || kinds["atm1/device_unreachable"] != 1 || kinds["totem1/device_ok"] != 2 || kinds["totem1/device_unreachable"] != 1 {
		t.Fatalf("events: %v", kinds)
	}
	for _, d := range s.Devices() {
		if d.ID == "totem1" && (d.Counters["failures"] < 2 || d.Protocol != "ip" || d.Kind != "kiosk") {
			t.Fatalf("kiosk: %+v", d)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cfg := Config{Devices: []Device{{ID: "a", Check: "ping"}, {ID: "a", Check: "tcp", Address: "nohost"}, {ID: "b", Check: "http", URL: "ftp://x"}}}
	cfg.ApplyDefaults()
	err := cfg.Validate()
	for _, want := range []string{"ipcheck.devices[0].check", "ipcheck.devices[1].id: duplicate", "ipcheck.devices[1].address", "ipcheck.devices[2].url"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
