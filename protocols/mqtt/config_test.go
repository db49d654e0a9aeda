package mqtt

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/polis-edge/polis/protocols/mqtt/mapping"
)

func TestConfigFromYAML(t *testing.T) {
	src := `
mode: embedded
listen: 127.0.0.1:1883
limits: {max_payload: 8KiB, max_publish_rate: 10}
operators:
  - {username: facility, password: fm, may_open: ["bank1/*"]}
devices:
  - {id: th-hall, password: s, preset: zigbee2mqtt, room: hall, offline_after: 10m}
  - {id: bank1, kind: locker, password: b}
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxPayload != 8192 || cfg.Limits.PublishBurst != 20 || cfg.Devices[0].Topic != "zigbee2mqtt/th-hall" ||
		cfg.Devices[0].Username != "th-hall" || cfg.Devices[1].Topic != "polis/locker/v1/bank1" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	base := func() Config { return officeConfig() }
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"mode", func(c *Config) { c.Mode = "cloud" }, "mqtt.mode:"},
		{"external url", func(c *Config) { c.Mode = ModeExternal; c.External.URL = "localhost" }, "mqtt.external.url:"},
		{"no password", func(c *Config) { c.Devices[0].Password = "" }, "mqtt.devices[0].password:"},
		{"dup id", func(c *Config) { c.Devices[1].ID = "th-hall" }, "mqtt.devices[1].id:"},
		{"bad id", func(c *Config) { c.Devices[2].ID = "a/b" }, "mqtt.devices[2].id:"},
		{"preset", func(c *Config) { c.Devices[0].Preset = "homie" }, "mqtt.devices[0].preset:"},
		{"no mapping", func(c *Config) { c.Devices[0].Preset = "" }, "mqtt.devices[0].preset:"},
		{"shared user, other password", func(c *Config) { c.Devices[2].Password = "other" }, "mqtt.devices[2].password:"},
		{"kind", func(c *Config) { c.Devices[0].Kind = "camera" }, "mqtt.devices[0].kind:"},
		{"locker preset", func(c *Config) { c.Devices[4].Preset = "tasmota" }, "mqtt.devices[4].preset:"},
		{"wildcard topic", func(c *Config) { c.Devices[0].Topic = "zigbee2mqtt/#" }, "mqtt.devices[0].topic:"},
		{"operator pattern", func(c *Config) { c.Operators[0].MayOpen = []string{"bank1"} }, "mqtt.operators[0]:"},
		{"limits", func(c *Config) { c.Limits.MaxPublishRate = -1 }, "mqtt.limits:"},
		{"listen nonsense", func(c *Config) { c.Listen = "nonsense" }, "mqtt.listen:"},
		{"websocket listen", func(c *Config) { c.WebSocket = &WebSocket{Listen: "127.0.0.1:99999"} }, "mqtt.websocket.listen:"},
		{"payload above a packet", func(c *Config) { c.Limits.MaxPayload = 1 << 30 }, "mqtt.limits.max_payload:"},
		{"sensor in the locker namespace", func(c *Config) { c.Devices[0].Topic = "polis/locker/v1" }, "mqtt.devices[0].topic:"},
		{"sensor below a locker", func(c *Config) { c.Devices[0].Topic = "polis/locker/v1/bank1/cmd" }, "mqtt.devices[0].topic:"},
		{"overlapping sensors", func(c *Config) { c.Devices[1].Topic = "zigbee2mqtt/th-hall/air" }, "mqtt.devices[1].topic:"},
		{"sensor sharing a bank's login", func(c *Config) { c.Devices[3].Username, c.Devices[3].Password = "bank1", "bank-pass" }, "mqtt.devices[4].username:"},
		{"operator with a device login", func(c *Config) { c.Operators[1].Username, c.Operators[1].Password = "z2m", "z2m-pass" }, "mqtt.operators[1].username:"},
		{"mapping", func(c *Config) {
			c.Devices[0].Preset = ""
			c.Devices[0].Mapping = []mapping.Rule{{Measurement: "env", Fields: []mapping.Field{{Name: "t", Path: "t", Convert: "x"}}}}
		}, "mqtt.devices[0].mapping[0].fields[0]: convert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.Devices = append([]Device(nil), c.Devices...)
			c.Operators = append([]Operator(nil), c.Operators...)
			tc.edit(&c)
			c.ApplyDefaults()
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// Rights derive from the kind: even if a sensor's topic lay in the locker
// namespace (Validate refuses that), its credential gets no locker rights.
func TestSensorCredentialNeverCommandsLockers(t *testing.T) {
	c := officeConfig()
	c.Devices[0].Topic = "polis/locker/v1"
	c.ApplyDefaults()
	a := newACL(c)
	for _, topic := range []string{"polis/locker/v1/bank1/cmd", "polis/locker/v1/bank1/event", "polis/locker/v1/bank1/request"} {
		if a.allowed("th-hall", topic, true) {
			t.Errorf("sensor may publish %s", topic)
		}
	}
	if a.allowed("th-hall", "polis/locker/v1/bank1/cmd", false) {
		t.Error("sensor may read bank commands")
	}
}
