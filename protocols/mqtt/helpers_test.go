package mqtt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.etcd.io/bbolt"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

// recorder is the shared in-memory stand-in for the edge's durable buffer.
type recorder = testserver.Recorder

func newRecorder() *recorder { return &testserver.Recorder{} }

func measurement(dev, m string) func(sample.Sample) bool {
	return func(s sample.Sample) bool { return s.Measurement == m && s.Tags[sample.TagDevice] == dev }
}

func event(dev, kind string) func(sample.Sample) bool {
	return func(s sample.Sample) bool {
		return s.Measurement == sample.MeasurementEvents && s.Tags[sample.TagDevice] == dev && s.Tags["kind"] == kind
	}
}

func openDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startService runs a service until the test ends and waits for its broker.
func startService(t testing.TB, cfg Config, sink Sink, db *bbolt.DB) *Service {
	t.Helper()
	if cfg.Mode == "" || cfg.Mode == ModeEmbedded {
		cfg.Listen = "127.0.0.1:0"
	}
	s, err := New(cfg, db, sink, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if s.cfg.Mode == ModeEmbedded {
		testserver.WaitFor(t, "broker bound", func() bool { return s.Addr() != nil && s.Addr().(*net.TCPAddr).Port != 0 })
	}
	return s
}

func brokerURL(s *Service) string { return "tcp://" + s.Addr().String() }

// dial connects a paho client; opts may add a will etc.
func dial(t testing.TB, url, user, pass string, opts ...func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(user + "-" + t.Name()).
		SetUsername(user).SetPassword(pass).SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(false).SetCleanSession(true)
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

func mustDial(t testing.TB, url, user, pass string, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	c, err := dial(t, url, user, pass, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	return c
}

func publish(t testing.TB, c paho.Client, topic string, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// waitCounter waits until a device counter reaches n.
func waitCounter(t *testing.T, s *Service, dev, counter string, n uint64) {
	t.Helper()
	testserver.WaitFor(t, fmt.Sprintf("%s.%s to reach %d", dev, counter, n), func() bool {
		for _, d := range s.Devices() {
			if d.ID == dev && d.Counters[counter] >= n {
				return true
			}
		}
		return false
	})
}
