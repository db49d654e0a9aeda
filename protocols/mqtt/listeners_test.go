package mqtt

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/polis-edge/polis/protocols/testserver"
)

// waitListener waits until the broker has bound listener id.
func waitListener(t *testing.T, s *Service, id string) *net.TCPAddr {
	t.Helper()
	testserver.WaitFor(t, "listener "+id+" bound", func() bool { return s.ListenerAddr(id) != nil })
	return s.ListenerAddr(id).(*net.TCPAddr)
}

func withTLS(cfg *tls.Config) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) { o.SetTLSConfig(cfg) }
}

func TestTLSListener(t *testing.T) {
	files := testserver.ServerTLS(t)
	cfg := officeConfig()
	cfg.TLS = &TLS{Listen: "127.0.0.1:0", Cert: files.Cert, Key: files.Key}
	rec := newRecorder()
	s := startService(t, cfg, rec, openDB(t))
	url := "ssl://" + waitListener(t, s, ListenerTLS).String()

	pool := files.Pool(t)
	trusting := withTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})

	// A client that does not trust the office CA must not talk to the broker.
	if _, err := dial(t, url, "th-hall", "th-pass", withTLS(&tls.Config{MinVersion: tls.VersionTLS12})); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusting client: err = %v, want a certificate error", err)
	}
	// Plain MQTT on the TLS port is not MQTT to this listener.
	if _, err := dial(t, "tcp://"+strings.TrimPrefix(url, "ssl://"), "th-hall", "th-pass"); err == nil {
		t.Fatal("plain MQTT accepted on the TLS listener")
	}
	if _, err := dial(t, url, "th-hall", "wrong", trusting); err == nil {
		t.Fatal("wrong password accepted over TLS")
	}

	th := mustDial(t, url, "th-hall", "th-pass", trusting)
	publish(t, th, "zigbee2mqtt/th-hall", readPayload(t, "z2m_climate.json"))
	env := rec.WaitFor(t, "th-hall env over TLS", 1, measurement("th-hall", "env"))[0]
	if env.Fields["temperature_c"] != 21.7 {
		t.Errorf("env over TLS = %v", env.Fields)
	}
	// The ACL applies on the TLS listener too.
	th.Publish("zigbee2mqtt/air-hall", 0, false, []byte(`{"co2": 5000}`)).WaitTimeout(2 * time.Second)
	waitCounter(t, s, "th-hall", "rejected_acl_denied", 1)
	waitCounter(t, s, "th-hall", "rejected_auth_failed", 1)
	if got := rec.Find(measurement("air-hall", "env")); len(got) != 0 {
		t.Errorf("spoofed reading over TLS stored: %v", got)
	}
}

func TestWebSocketListener(t *testing.T) {
	cfg := officeConfig()
	cfg.WebSocket = &WebSocket{Listen: "127.0.0.1:0"}
	rec := newRecorder()
	s := startService(t, cfg, rec, openDB(t))
	url := "ws://" + waitListener(t, s, ListenerWebSocket).String() + "/mqtt"

	if _, err := dial(t, url, "z2m", "wrong"); err == nil {
		t.Fatal("wrong password accepted over WebSocket")
	}
	gw := mustDial(t, url, "z2m", "z2m-pass")
	publish(t, gw, "zigbee2mqtt/air-hall", readPayload(t, "z2m_air.json"))
	air := rec.WaitFor(t, "air-hall env over WebSocket", 1, measurement("air-hall", "env"))[0]
	if air.Fields["co2_ppm"] != 812.0 {
		t.Errorf("env over WebSocket = %v", air.Fields)
	}
	// Several messages in a row keep their framing.
	for i := 0; i < 5; i++ {
		publish(t, gw, "zigbee2mqtt/leak-wc", readPayload(t, "z2m_leak.json"))
	}
	rec.WaitFor(t, "leak readings over WebSocket", 5, measurement("leak-wc", "leak"))

	gw.Publish("zigbee2mqtt/th-hall", 0, false, []byte(`{"temperature": 35}`)).WaitTimeout(2 * time.Second)
	waitCounter(t, s, "air-hall", "rejected_acl_denied", 1)
	if got := rec.Find(measurement("th-hall", "env")); len(got) != 0 {
		t.Errorf("spoofed reading over WebSocket stored: %v", got)
	}
}

func TestWebSocketPortInUseFailsRun(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := officeConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.WebSocket = &WebSocket{Listen: busy.Addr().String()}
	s, err := New(cfg, openDB(t), newRecorder(), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "websocket") {
		t.Fatalf("Run with the WebSocket port taken = %v, want a websocket listen error", err)
	}
}

func TestClientIDTakeoverRefused(t *testing.T) {
	rec := newRecorder()
	s := startService(t, officeConfig(), rec, openDB(t))
	url := brokerURL(s)
	lost := make(chan error, 4)
	keepWatch := func(id string) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) {
			o.SetClientID(id).SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		}
	}
	th := mustDial(t, url, "th-hall", "th-pass", keepWatch("th-hall"))
	tasmotaStyle := mustDial(t, url, "th-hall", "th-pass", keepWatch("DVES_1A2B3C"))

	// plug-ac has valid credentials but tries th-hall's client ids.
	for _, id := range []string{"th-hall", "th-hall-2", "DVES_1A2B3C", "inline"} {
		_, err := dial(t, url, "plug-ac", "plug-pass", func(o *paho.ClientOptions) { o.SetClientID(id) })
		if !errors.Is(err, packets.ErrorRefusedIDRejected) {
			t.Errorf("plug-ac as client %q: err = %v, want identifier rejected", id, err)
		}
	}
	waitCounter(t, s, "plug-ac", "rejected_client_id_taken", 4)
	select {
	case err := <-lost:
		t.Fatalf("legitimate device was knocked off: %v", err)
	default:
	}
	if !th.IsConnectionOpen() || !tasmotaStyle.IsConnectionOpen() {
		t.Fatal("legitimate device disconnected")
	}
	publish(t, th, "zigbee2mqtt/th-hall", []byte(`{"temperature": 22.5}`))
	publish(t, tasmotaStyle, "zigbee2mqtt/th-hall", []byte(`{"temperature": 22.6}`))
	rec.WaitFor(t, "th-hall readings after the attempts", 2, measurement("th-hall", "env"))

	// plug-ac's own ids work, and a device may take over its own session.
	mustDial(t, url, "plug-ac", "plug-pass", func(o *paho.ClientOptions) { o.SetClientID("plug-ac-1") })
	mustDial(t, url, "th-hall", "th-pass", func(o *paho.ClientOptions) { o.SetClientID("th-hall") })
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Error("a device's own reconnect did not take over its session")
	}
}

func TestMaxClientsIsServerUnavailable(t *testing.T) {
	cfg := officeConfig()
	cfg.Limits.MaxClients = 2
	s := startService(t, cfg, newRecorder(), openDB(t))
	url := brokerURL(s)
	mustDial(t, url, "th-hall", "th-pass")
	mustDial(t, url, "z2m", "z2m-pass")
	_, err := dial(t, url, "plug-ac", "plug-pass")
	if !errors.Is(err, packets.ErrorRefusedServerUnavailable) {
		t.Fatalf("third client: err = %v, want server unavailable", err)
	}
	waitCounter(t, s, "plug-ac", "rejected_max_clients", 1)
	for _, d := range s.Devices() {
		if d.ID == "plug-ac" && d.Counters["rejected_auth_failed"] != 0 {
			t.Errorf("full broker counted as a bad password: %v", d.Counters)
		}
		if d.ID == "plug-ac" && !strings.Contains(d.LastError, "max_clients") {
			t.Errorf("plug-ac last error = %q", d.LastError)
		}
	}
}
