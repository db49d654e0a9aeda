package mqttprobe

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/protocols/mqtt"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestProbeShowsPayloadsAndExtractedFields: a Zigbee2MQTT sensor publishes to
// the probe's broker; the probe prints each raw payload with the fields the
// preset extracts, and the reason for a value it would refuse.
func TestProbeShowsPayloadsAndExtractedFields(t *testing.T) {
	dev := mqtt.Device{ID: "th-hall", Preset: "zigbee2mqtt", Room: "hall", Topic: "zigbee2mqtt/th-hall"}
	out := &testserver.SyncBuffer{}
	bound := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Device: dev, Listen: "127.0.0.1:0", Messages: 2, Out: out, Bound: func(a string) { bound <- a }})
	}()
	var addr string
	select {
	case addr = <-bound:
	case err := <-done:
		t.Fatalf("probe ended: %v", err)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("th-hall").SetUsername("th-hall").SetPassword("x"))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	for _, p := range []string{`{"temperature":21.5,"humidity":45.2,"battery":90}`, `{"temperature":"hot"}`} {
		if tok := c.Publish("zigbee2mqtt/th-hall", 1, false, p); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		`zigbee2mqtt/th-hall {"temperature":21.5,"humidity":45.2,"battery":90}`,
		"device=th-hall,room=hall",
		"=21.5",
		"=45.2",
		`zigbee2mqtt/th-hall {"temperature":"hot"}`,
		"✗ wrong_type",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("probe output lacks %q:\n%s", want, got)
		}
	}
}
