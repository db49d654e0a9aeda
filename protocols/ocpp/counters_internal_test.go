package ocpp

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Every unknown id refused before authentication used to add a counter entry
// that was never pruned: anyone could grow the edge's memory. Refusals are
// counted per reason; only configured chargers have their own counters.
func TestRefusedUnknownChargers_CountersBounded(t *testing.T) {
	cfg := Config{Listen: "127.0.0.1:0", Chargers: []ChargerConfig{{ID: "CP01", Password: "0123456789abcdef"}}}
	cfg.ApplyDefaults()
	stats := newCounters()
	f := newFront(&cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), stats)
	for i := range 1000 {
		rr := httptest.NewRecorder()
		f.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, fmt.Sprintf("/ocpp/STRANGER-%d", i), nil))
		if rr.Code != http.StatusNotFound {
			t.Fatalf("stranger %d: %d", i, rr.Code)
		}
	}
	rr := httptest.NewRecorder()
	f.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/ocpp/CP01", nil))
	if rr.Code != http.StatusUnauthorized {
		t.Fatalf("CP01 without password: %d", rr.Code)
	}
	if n := len(stats.byID); n != 1 {
		t.Errorf("per-id counter entries = %d after 1000 strangers, want 1 (CP01)", n)
	}
	if got := stats.refusals(); got["unknown_charger"] != 1000 || got["bad_credentials"] != 1 {
		t.Errorf("refusals = %v", got)
	}
}
