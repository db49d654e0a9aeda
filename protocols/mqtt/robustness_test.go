package mqtt

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

func TestBadInputIsCountedAndBlocksNobody(t *testing.T) {
	rec := newRecorder()
	cfg := officeConfig()
	cfg.Limits = Limits{MaxPayload: 1024, MaxPublishRate: 5, PublishBurst: 5, MaxClients: 6}
	s := startService(t, cfg, rec, openDB(t))
	url := brokerURL(s)
	bad := mustDial(t, url, "th-hall", "th-pass")
	for _, p := range []string{`{"temperature": 21.`, `{"temperature": "NaN"}`, `{"temperature": 500}`, `{"temperature": true}`, strings.Repeat("x", 2000)} {
		publish(t, bad, "zigbee2mqtt/th-hall", []byte(p))
	}
	publish(t, bad, "zigbee2mqtt/th-hall/whatever", []byte(`{"a":1}`))
	// Flood: far more than the burst, as fast as possible.
	for i := 0; i < 50; i++ {
		bad.Publish("zigbee2mqtt/th-hall", 0, false, []byte(`{"temperature": 20}`))
	}
	good := mustDial(t, url, "z2m", "z2m-pass")
	publish(t, good, "zigbee2mqtt/air-hall", []byte(`{"co2": 650}`))
	rec.WaitFor(t, "good device sample", 1, measurement("air-hall", "env"))

	for _, c := range []string{"rejected_invalid_json", "rejected_not_finite", "rejected_out_of_range", "rejected_wrong_type", "rejected_oversized", "rejected_unknown_topic", "rejected_rate_limited"} {
		waitCounter(t, s, "th-hall", c, 1)
	}
	for _, smp := range rec.Find(measurement("th-hall", "env")) {
		if v := smp.Fields["temperature_c"]; v != 20.0 {
			t.Errorf("refused value stored: %v", smp.Fields)
		}
	}
	if n := len(rec.Find(measurement("th-hall", "env"))); n > 10 {
		t.Errorf("flood not limited: %d of 50 flood messages stored", n)
	}
	var metrics strings.Builder
	if err := s.WriteMetrics(&metrics); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics.String(), `polis_mqtt_rejected_total{device="th-hall",reason="out_of_range"} 1`) {
		t.Errorf("metrics lack per-device refusals:\n%s", metrics.String())
	}
	// max_clients: 6 connections total; the extra ones are refused and counted.
	var refused int
	for i := 0; i < 6; i++ {
		if _, err := dial(t, url, "plug-ac", "plug-pass", func(o *paho.ClientOptions) { o.SetClientID(fmt.Sprint("plug-", i)) }); err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Error("max_clients not enforced")
	}
	waitCounter(t, s, "plug-ac", "rejected_max_clients", 1)
}

func TestAvailability(t *testing.T) {
	rec := newRecorder()
	cfg := officeConfig()
	cfg.Devices[0].OfflineAfter = 2 * time.Second
	s := startService(t, cfg, rec, openDB(t))
	url := brokerURL(s)
	th := mustDial(t, url, "th-hall", "th-pass")
	publish(t, th, "zigbee2mqtt/th-hall", []byte(`{"temperature": 20}`))
	rec.WaitFor(t, "silence offline", 1, event("th-hall", "device_offline"))
	publish(t, th, "zigbee2mqtt/th-hall", []byte(`{"temperature": 20.5}`))
	rec.WaitFor(t, "back online", 1, event("th-hall", "device_online"))

	// Last will: the connection dies without DISCONNECT.
	var raw net.Conn
	_ = mustDial(t, url, "plug-ac", "plug-pass", func(o *paho.ClientOptions) {
		o.SetWill("tele/plug-ac/LWT", "Offline", 1, true)
		o.SetCustomOpenConnectionFn(func(u *url_URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.Dial("tcp", u.Host)
			raw = c
			return c, err
		})
	})
	publish(t, mustDial(t, url, "plug-ac", "plug-pass", func(o *paho.ClientOptions) { o.SetClientID("plug-2") }), "tele/plug-ac/LWT", []byte("Online"))
	raw.Close()
	ev := rec.WaitFor(t, "will offline", 1, event("plug-ac", "device_offline"))[0]
	if !strings.Contains(ev.Fields["message"].(string), "announced offline") {
		t.Errorf("offline event = %v", ev.Fields)
	}
	for _, d := range s.Devices() {
		if d.ID == "plug-ac" && d.State != "offline" {
			t.Errorf("plug-ac state = %s", d.State)
		}
	}
}

func TestExternalBrokerMode(t *testing.T) {
	broker := testserver.Mosquitto(t, testserver.WithUsers(map[string]string{
		"edge": "edge-pass", "th-hall": "th-pass", "bank1": "bank-pass"}))
	rec := newRecorder()
	cfg := officeConfig()
	cfg.Mode = ModeExternal
	cfg.CommandTimeout = 5 * time.Second
	cfg.External = External{URL: broker.URL, Username: "edge", Password: "edge-pass", ClientID: "edge-" + t.Name()}
	s := startService(t, cfg, rec, openDB(t))
	// Wrong credentials are refused by the site broker.
	if _, err := dial(t, broker.URL, "th-hall", "nope"); err == nil {
		t.Error("mosquitto accepted a wrong password")
	}
	th := mustDial(t, broker.URL, "th-hall", "th-pass")
	deadline := time.Now().Add(20 * time.Second)
	for len(rec.Find(measurement("th-hall", "env"))) == 0 && time.Now().Before(deadline) {
		publish(t, th, "zigbee2mqtt/th-hall", readPayload(t, "z2m_climate.json")) // until the edge subscribed
		time.Sleep(200 * time.Millisecond)
	}
	rec.WaitFor(t, "env via mosquitto", 1, measurement("th-hall", "env"))

	ctx := t.Context()
	bank := newSimBank(broker.URL)
	go bank.Run(ctx)
	rec.WaitFor(t, "bank status via mosquitto", 1, measurement("bank1", "locker"))
	res, err := s.OpenCompartment(ctx, "bank1", "A02", "courier", "facility", "ext-1")
	if err != nil || res.Result != "done" {
		t.Fatalf("open via mosquitto = %+v, %v", res, err)
	}
}

func TestExternalModeRateLimit(t *testing.T) {
	broker := testserver.Mosquitto(t, testserver.WithUsers(map[string]string{
		"edge": "edge-pass", "th-hall": "th-pass", "z2m": "z2m-pass"}))
	rec := newRecorder()
	cfg := officeConfig()
	cfg.Mode = ModeExternal
	cfg.Limits = Limits{MaxPayload: 1024, MaxPublishRate: 1, PublishBurst: 5}
	cfg.External = External{URL: broker.URL, Username: "edge", Password: "edge-pass", ClientID: "edge-" + t.Name()}
	s := startService(t, cfg, rec, openDB(t))
	gw := mustDial(t, broker.URL, "z2m", "z2m-pass")
	deadline := time.Now().Add(20 * time.Second)
	for len(rec.Find(measurement("air-hall", "env"))) == 0 && time.Now().Before(deadline) {
		publish(t, gw, "zigbee2mqtt/air-hall", []byte(`{"co2": 650}`)) // until the edge subscribed
		time.Sleep(200 * time.Millisecond)
	}
	rec.WaitFor(t, "air-hall via mosquitto", 1, measurement("air-hall", "env"))

	// th-hall floods the site broker; the edge keeps the burst and refuses the rest.
	const flood = 50
	th := mustDial(t, broker.URL, "th-hall", "th-pass")
	for i := 0; i < flood; i++ {
		publish(t, th, "zigbee2mqtt/th-hall", fmt.Appendf(nil, `{"temperature": %d}`, 10+i%20))
	}
	publish(t, th, "zigbee2mqtt/th-hall", []byte(strings.Repeat("x", 2000)))
	waitCounter(t, s, "th-hall", "rejected_oversized", 1) // after the flood: order is kept
	stored := len(rec.Find(measurement("th-hall", "env")))
	var limited uint64
	for _, d := range s.Devices() {
		if d.ID == "th-hall" {
			limited = d.Counters["rejected_rate_limited"]
		}
	}
	if stored+int(limited) != flood {
		t.Errorf("flood: %d stored + %d refused != %d sent: messages lost or double-counted", stored, limited, flood)
	}
	if stored > flood/2 {
		t.Errorf("flood not limited: %d of %d stored", stored, flood)
	}
	// The other device is not affected.
	publish(t, gw, "zigbee2mqtt/air-hall", []byte(`{"co2": 700}`))
	rec.WaitFor(t, "air-hall after the flood", 1, func(smp sample.Sample) bool {
		return measurement("air-hall", "env")(smp) && smp.Fields["co2_ppm"] == 700.0
	})
}

// External mode: when the buffer refuses messages for a while, delivery
// resumes once it recovers. Leaving the refused message unacknowledged and
// moving on once stalled the edge for good: mosquitto stops sending when
// its in-flight window is full and redelivers only on a new connection.
func TestExternalModeResumesAfterBufferFailure(t *testing.T) {
	broker := testserver.Mosquitto(t, testserver.WithMaxInflight(2), testserver.WithUsers(map[string]string{
		"edge": "edge-pass", "th-hall": "th-pass", "z2m": "z2m-pass"}))
	rec := newRecorder()
	cfg := officeConfig()
	cfg.Mode = ModeExternal
	cfg.External = External{URL: broker.URL, Username: "edge", Password: "edge-pass", ClientID: "edge-" + t.Name()}
	s := startService(t, cfg, rec, openDB(t))
	th := mustDial(t, broker.URL, "th-hall", "th-pass")
	testserver.WaitFor(t, "edge subscribed", func() bool {
		publish(t, th, "zigbee2mqtt/th-hall", []byte(`{"temperature": 5}`))
		return len(rec.Find(measurement("th-hall", "env"))) > 0
	})
	rec.SetFail(true)
	const n = 10
	for i := range n {
		publish(t, th, "zigbee2mqtt/th-hall", fmt.Appendf(nil, `{"temperature": %d}`, 10+i))
	}
	waitCounter(t, s, "th-hall", "sink_errors", 2) // the edge met the failure
	rec.SetFail(false)
	got := rec.WaitFor(t, "every message after the buffer recovered", n, func(smp sample.Sample) bool {
		v, _ := smp.Fields["temperature_c"].(float64)
		return measurement("th-hall", "env")(smp) && v >= 10
	})
	seen := map[float64]bool{}
	for _, smp := range got {
		seen[smp.Fields["temperature_c"].(float64)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct readings of %d: %v", len(seen), n, seen)
	}
}
