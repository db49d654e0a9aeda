package ocpp_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	bolt "go.etcd.io/bbolt"
)

// recorder is the shared in-memory stand-in for the edge's durable buffer.
type recorder = testserver.Recorder

func measurement(m, field string, v any) func(sample.Sample) bool {
	return func(s sample.Sample) bool {
		return s.Measurement == m && (field == "" || s.Fields[field] == v)
	}
}

const testPassword = "correct-horse-battery-staple"

func baseConfig() ocpp.Config {
	return ocpp.Config{
		Listen: "127.0.0.1:0", Path: "/ocpp", SecurityProfile: ocpp.Profile(0),
		MeterSampleInterval: time.Second, CommandTimeout: 5 * time.Second,
		Chargers: []ocpp.ChargerConfig{{ID: "CP01", Password: testPassword, Connectors: 2}, {ID: "CP02", Password: testPassword, Connectors: 1}},
		Auth: ocpp.AuthConfig{UnknownTags: "reject", Tags: []ocpp.TagConfig{
			{ID: "04A1B2C3", Group: "fleet", Departure: "07:30"}, {ID: "04A1B2C4", Group: "fleet", Departure: "07:30"}, {ID: "DEADBEEF", Group: "public"}}},
	}
}

type harness struct {
	svc    *ocpp.Service
	rec    *recorder
	db     *bolt.DB
	cancel context.CancelFunc
	done   chan error
}

func openDB(t testing.TB) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func start(t testing.TB, cfg ocpp.Config, db *bolt.DB, rec *recorder) *harness {
	t.Helper()
	svc, err := ocpp.New(cfg, db, rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{svc: svc, rec: rec, db: db, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- svc.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
}

func (h *harness) url() string { return "ws://" + h.svc.Addr().String() + "/ocpp" }

// eventually is the project's one wait helper (protocols/testserver).
var eventually = testserver.WaitFor

func connector(h *harness, id string, n int) (ocpp.ConnectorState, bool) {
	for _, c := range h.svc.Snapshot() {
		if c.ChargerID == id && c.Connector == n {
			return c, true
		}
	}
	return ocpp.ConnectorState{}, false
}

type boltDB = bolt.DB

func openBolt(dir string) (*bolt.DB, error) {
	return bolt.Open(filepath.Join(dir, "state.db"), 0o600, nil)
}

// startWithSink is start with any sink (a gate, a slow disk).
func startWithSink(t *testing.T, cfg ocpp.Config, db *bolt.DB, sink ocpp.Sink) *ocpp.Service {
	t.Helper()
	svc, err := ocpp.New(cfg, db, sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc
}
