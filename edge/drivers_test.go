package edge

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/testserver"
)

// parseEdge builds an edge config the way an installer writes it: YAML.
func parseEdge(t *testing.T, dir, mqttAddr, devices string) config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
office: {id: %q}
data_dir: %q
buffer: {commit_interval: 20ms}
uplink: {url: "tcp://%s", password: %q, reconnect_min: 100ms, reconnect_max: 500ms}
http: {listen: "127.0.0.1:0"}
telemetry: {interval: 1h}
%s`, testOffice, dir, mqttAddr, testPassword, devices)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSensorReadingReachesInfluxDB: a Zigbee2MQTT sensor publishes to the
// office broker and the reading becomes an env row in InfluxDB.
func TestSensorReadingReachesInfluxDB(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	cfg := parseEdge(t, dataDir(t), f.Addrs().MQTT, `
mqtt:
  listen: 127.0.0.1:0
  devices:
    - {id: th-hall, password: s1, preset: zigbee2mqtt, room: hall}
`)
	d, _ := startEdge(t, cfg)
	waitFor(t, 10*time.Second, "the office broker to listen", func() bool { return d.MQTT().Addr() != nil })
	o := paho.NewClientOptions().AddBroker("tcp://" + d.MQTT().Addr().String()).
		SetClientID("th-hall").SetUsername("th-hall").SetPassword("s1")
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("sensor connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	tok := c.Publish("zigbee2mqtt/th-hall", 1, false, `{"temperature":21.5,"humidity":40.2,"co2":650}`)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitFor(t, 60*time.Second, "the reading in InfluxDB", func() bool {
		s, err := in.Query(`SELECT "temperature_c","co2_ppm" FROM "env" WHERE "office"='12345' AND "device"='th-hall' AND "room"='hall'`)
		return err == nil && len(s) == 1 && len(s[0].Values) == 1 && fmt.Sprint(s[0].Values[0][1]) == "21.5"
	})
}
