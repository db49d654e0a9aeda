package edge

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
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

// TestInverterAndMeterReachInfluxDB: a simulated SunSpec inverter and an
// SDM630 meter over Modbus TCP become pv and grid rows in InfluxDB, and the
// devices show as ok in the office status.
func TestInverterAndMeterReachInfluxDB(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	simCfg := modbussim.DefaultConfig()
	simCfg.Clock = "2026-06-21T12:00:00+02:00" // midsummer noon: the roof produces
	sim, err := modbussim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cfg := parseEdge(t, dataDir(t), f.Addrs().MQTT, fmt.Sprintf(`
modbus:
  buses:
    - {id: inv-bus, url: "tcp://%s"}
    - {id: meter-bus, url: "tcp://%s"}
  devices:
    - {id: inv1, bus: inv-bus, unit: 1, kind: inverter, poll: 500ms, sunspec: true, max_power_w: 30000}
    - {id: grid, bus: meter-bus, unit: 1, kind: meter, poll: 500ms, template: sdm630, max_power_w: 60000}
`, sim.Addr("inv1"), sim.Addr("sdm630")))
	d, _ := startEdge(t, cfg)
	waitFor(t, 60*time.Second, "pv and grid rows in InfluxDB", func() bool {
		pv, err1 := in.Query(`SELECT count("ac_power_w") FROM "pv" WHERE "device"='inv1' AND "office"='12345'`)
		grid, err2 := in.Query(`SELECT count("import_power_w") FROM "grid" WHERE "device"='grid'`)
		return err1 == nil && err2 == nil && len(pv) == 1 && len(grid) == 1
	})
	st := d.status()
	for _, dev := range st.Devices {
		if dev.State != "ok" {
			t.Errorf("device %s is %s (%s)", dev.ID, dev.State, dev.LastError)
		}
	}
	if len(st.Devices) != 2 {
		t.Fatalf("status lists %d devices, want 2", len(st.Devices))
	}
}

// TestChargerSessionReachesInfluxDB: a simulated OCPP 1.6J charge point boots
// against the office, charges a fleet van, obeys a limit set through the Go
// API the rules use, and its evse and session points reach InfluxDB.
func TestChargerSessionReachesInfluxDB(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	cfg := parseEdge(t, dataDir(t), f.Addrs().MQTT, `
ocpp:
  listen: 127.0.0.1:0
  security_profile: 1
  meter_sample_interval: 1s
  chargers:
    - {id: CP01, password: "sixteen-chars-pw", connectors: 1}
  auth:
    tags:
      - {id: "04A1B2C3", group: fleet, departure: "07:30"}
`)
	d, _ := startEdge(t, cfg)
	cp, err := ocppsim.New(ocppsim.Config{
		URL: "ws://" + d.OCPP().Addr().String() + "/ocpp", ID: "CP01", Password: "sixteen-chars-pw",
		MeterInterval: time.Second, ProfileDelay: 100 * time.Millisecond, Tick: 100 * time.Millisecond,
	}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	go cp.Run(t.Context())
	waitFor(t, 30*time.Second, "the charger to connect", cp.Connected)
	if err := cp.Plug(1, ocppsim.Car{IdTag: "04A1B2C3", BatteryWh: 60000, SoCPct: 30, MaxCurrentA: 16, Phases: 3}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the van to draw power", func() bool { return cp.PowerW() > 5000 })
	res, err := d.OCPP().SetLimit(t.Context(), "CP01", 1, ocpp.Limit{Unit: "A", Value: 8, Phases: 3})
	if err != nil || res.Status != "confirmed" {
		t.Fatalf("limit: %+v, %v", res, err)
	}
	waitFor(t, 30*time.Second, "the van to obey 8 A", func() bool { p := cp.PowerW(); return p > 0 && p <= 3*230*8*1.05 })
	waitFor(t, 60*time.Second, "evse and session rows in InfluxDB", func() bool {
		evse, err1 := in.Query(`SELECT count("power_w") FROM "evse" WHERE "device"='CP01' AND "office"='12345'`)
		sess, err2 := in.Query(`SELECT * FROM "session" WHERE "device"='CP01' AND "group"='fleet'`)
		return err1 == nil && err2 == nil && len(evse) == 1 && len(sess) == 1
	})
}
