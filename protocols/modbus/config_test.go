package modbus_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/modbus/templates"
)

const exampleYAML = `
buses:
  - id: roof-gw
    url: tcp://192.168.1.50:502
    timeout: 1s
    request_delay: 50ms
    max_registers: 100
  - id: rs485
    url: rtu:///dev/ttyUSB0
    baud: 9600
    parity: even
    stop_bits: 1
devices:
  - {id: inv1, bus: roof-gw, unit: 1, kind: inverter, poll: 1s, sunspec: true, max_power_w: 20000}
  - {id: grid, bus: rs485, unit: 2, kind: meter, poll: 2s, template: sdm630}
`

func TestConfigExampleIsValid(t *testing.T) {
	var c modbus.Config
	dec := yaml.NewDecoder(strings.NewReader(exampleYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Devices[1].MaxRegisters != 125 || c.Devices[0].MaxRegisters != 100 || c.Devices[0].LimitRevert != 2*time.Minute {
		t.Errorf("defaults: %+v", c.Devices)
	}
}

func TestConfigValidateNamesKey(t *testing.T) {
	base := func() modbus.Config {
		return modbus.Config{
			Buses:   []modbus.BusConfig{{ID: "b", URL: "tcp://h:502"}},
			Devices: []modbus.DeviceConfig{{ID: "d", Bus: "b", Unit: 1, Kind: "inverter", SunSpec: true}},
		}
	}
	cases := []struct {
		key string
		mod func(*modbus.Config)
	}{
		{"modbus.buses[0].url", func(c *modbus.Config) { c.Buses[0].URL = "udp://h:502" }},
		{"modbus.buses[0].url", func(c *modbus.Config) { c.Buses[0].URL = "tcp://h" }},
		{"modbus.buses[0].parity", func(c *modbus.Config) { c.Buses[0].Parity = "mark" }},
		{"modbus.buses[0].max_registers", func(c *modbus.Config) { c.Buses[0].MaxRegisters = 200 }},
		{"modbus.buses[1].id", func(c *modbus.Config) { c.Buses = append(c.Buses, c.Buses[0]) }},
		{"modbus.devices[0].bus", func(c *modbus.Config) { c.Devices[0].Bus = "x" }},
		{"modbus.devices[0].unit", func(c *modbus.Config) { c.Devices[0].Unit = 300 }},
		{"modbus.devices[0].kind", func(c *modbus.Config) { c.Devices[0].Kind = "battery" }},
		{"modbus.devices[0]: set exactly one", func(c *modbus.Config) { c.Devices[0].Template = "sdm630" }},
		{"modbus.devices[0].template", func(c *modbus.Config) { c.Devices[0].SunSpec, c.Devices[0].Template = false, "nope" }},
		{"modbus.devices[0].template", func(c *modbus.Config) { c.Devices[0].SunSpec, c.Devices[0].Template = false, "sdm630" }},
		{"modbus.devices[0].poll", func(c *modbus.Config) { c.Devices[0].Poll = time.Millisecond }},
		{"modbus.devices[0].max_power_w", func(c *modbus.Config) { c.Devices[0].MaxPowerW = -1 }},
		{"modbus.devices[1].id", func(c *modbus.Config) { c.Devices = append(c.Devices, c.Devices[0]) }},
	}
	for _, tc := range cases {
		c := base()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("want error naming %q, got %v", tc.key, err)
		}
	}
	c := base()
	if err := c.Validate(); err != nil {
		t.Errorf("base config: %v", err)
	}
}

func TestTestdataExamples(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/modbus/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Modbus modbus.Config `yaml:"modbus"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	doc.Modbus.ApplyDefaults()
	if err := doc.Modbus.Validate(); err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.Load("../../testdata/modbus/custom-meter.yaml")
	if err != nil || tpl.Name != "acme-m3" || len(tpl.Points) != 5 {
		t.Fatalf("custom template: %v %+v", err, tpl)
	}
}
