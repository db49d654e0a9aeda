// Package mqtt connects the office's MQTT devices (environmental sensors,
// parcel-locker banks) to the edge: it embeds the office broker or joins the
// site's own one, maps payloads to samples, runs the locker protocol and
// watches every device's availability.
package mqtt

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/polis-edge/polis/protocols/bytesize"
	"github.com/polis-edge/polis/protocols/mqtt/locker"
	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/netaddr"
)

// Modes.
const (
	ModeEmbedded = "embedded"
	ModeExternal = "external"
)

// Device kinds.
const (
	KindSensor = "sensor"
	KindLocker = "locker"
)

// Config is the mqtt: section of the edge config.
type Config struct {
	Mode      string     `yaml:"mode"`
	Listen    string     `yaml:"listen"`
	TLS       *TLS       `yaml:"tls,omitempty"`
	WebSocket *WebSocket `yaml:"websocket,omitempty"`
	Limits    Limits     `yaml:"limits"`
	External  External   `yaml:"external"`
	// OfflineAfter is the default silence after which a device is offline.
	OfflineAfter time.Duration `yaml:"offline_after"`
	// CommandTimeout bounds a locker command from send to result.
	CommandTimeout time.Duration `yaml:"command_timeout"`
	Operators      []Operator    `yaml:"operators"`
	Devices        []Device      `yaml:"devices"`
}

// TLS adds a TLS listener to the embedded broker.
type TLS struct {
	Listen string `yaml:"listen"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
}

// WebSocket adds a WebSocket listener to the embedded broker.
type WebSocket struct {
	Listen string `yaml:"listen"`
}

// Limits protect the embedded broker from a misbehaving client.
type Limits struct {
	MaxPayload     bytesize.Size `yaml:"max_payload"`
	MaxPublishRate float64       `yaml:"max_publish_rate"` // messages per second per client
	PublishBurst   int           `yaml:"publish_burst"`    // messages a client may send at once
	MaxClients     int           `yaml:"max_clients"`
}

// External is the site broker in external mode.
type External struct {
	URL      string `yaml:"url"` // tcp://, ssl://, ws://, wss://
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	ClientID string `yaml:"client_id"`
}

// Operator may command lockers through the edge (and, in embedded mode, log
// into the broker to watch the banks it may open).
type Operator struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// MayOpen and MayManage are bank/compartment patterns (path.Match):
	// "bank1/*", "bank2/A0?". MayManage allows set_out_of_service.
	MayOpen   []string `yaml:"may_open"`
	MayManage []string `yaml:"may_manage,omitempty"`
}

// Device is one sensor or locker bank: credentials, ACL and mapping in
// one entry.
type Device struct {
	ID       string `yaml:"id"`
	Kind     string `yaml:"kind,omitempty"`     // sensor (default) or locker
	Username string `yaml:"username,omitempty"` // defaults to id; devices behind one gateway share it
	Password string `yaml:"password,omitempty"`
	// Preset is zigbee2mqtt or tasmota; otherwise Mapping is required.
	Preset  string         `yaml:"preset,omitempty"`
	Mapping []mapping.Rule `yaml:"mapping,omitempty"`
	// Topic is the device's base topic; the device may publish on it and
	// below. Defaults: zigbee2mqtt/<id>, tele/<id>, sensors/<id>, and
	// polis/locker/v1/<id> for lockers.
	Topic        string            `yaml:"topic,omitempty"`
	Room         string            `yaml:"room,omitempty"`
	Tags         map[string]string `yaml:"tags,omitempty"`
	OfflineAfter time.Duration     `yaml:"offline_after,omitempty"`
}

// Default values.
const (
	DefaultListen     = "0.0.0.0:1883"
	DefaultMaxPayload = 16 << 10
	// MaxMaxPayload keeps the broker's packet cap (4×max_payload + 4 KiB)
	// inside MQTT's 256 MiB and a uint32.
	MaxMaxPayload         bytesize.Size = 32 << 20
	DefaultPublishRate                  = 20
	DefaultMaxClients                   = 200
	DefaultOfflineAfter                 = 15 * time.Minute
	DefaultCommandTimeout               = 15 * time.Second
)

// ApplyDefaults fills unset values; Validate expects it to have run. The
// device list is copied, so the caller's slice is never changed.
func (c *Config) ApplyDefaults() {
	if c.Mode == "" {
		c.Mode = ModeEmbedded
	}
	if c.Listen == "" && c.Mode == ModeEmbedded {
		c.Listen = DefaultListen
	}
	if c.Limits.MaxPayload == 0 {
		c.Limits.MaxPayload = DefaultMaxPayload
	}
	if c.Limits.MaxPublishRate == 0 {
		c.Limits.MaxPublishRate = DefaultPublishRate
	}
	if c.Limits.PublishBurst == 0 {
		c.Limits.PublishBurst = int(2 * c.Limits.MaxPublishRate)
	}
	if c.Limits.MaxClients == 0 {
		c.Limits.MaxClients = DefaultMaxClients
	}
	if c.OfflineAfter == 0 {
		c.OfflineAfter = DefaultOfflineAfter
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	c.Devices = append([]Device(nil), c.Devices...)
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Kind == "" {
			d.Kind = KindSensor
		}
		if d.Username == "" {
			d.Username = d.ID
		}
		if d.OfflineAfter == 0 {
			d.OfflineAfter = c.OfflineAfter
		}
		if d.Topic == "" {
			d.Topic = defaultTopic(*d)
		}
	}
}

func defaultTopic(d Device) string {
	switch {
	case d.Kind == KindLocker:
		return locker.TopicRoot + "/" + d.ID
	case d.Preset == mapping.PresetZigbee2MQTT:
		return "zigbee2mqtt/" + d.ID
	case d.Preset == mapping.PresetTasmota:
		return "tele/" + d.ID
	}
	return "sensors/" + d.ID
}

// Validate reports the first problem, naming its key.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeEmbedded:
		if err := netaddr.CheckListen(c.Listen); err != nil {
			return fmt.Errorf("mqtt.listen: %w", err)
		}
		if c.TLS != nil {
			if c.TLS.Cert == "" || c.TLS.Key == "" {
				return errors.New("mqtt.tls: listen, cert and key are all required")
			}
			if err := netaddr.CheckListen(c.TLS.Listen); err != nil {
				return fmt.Errorf("mqtt.tls.listen: %w", err)
			}
		}
		if c.WebSocket != nil {
			if err := netaddr.CheckListen(c.WebSocket.Listen); err != nil {
				return fmt.Errorf("mqtt.websocket.listen: %w", err)
			}
		}
	case ModeExternal:
		u, err := url.Parse(c.External.URL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("mqtt.external.url: %q is not a broker URL like tcp://host:1883", c.External.URL)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return fmt.Errorf("mqtt.external.url: scheme %q not supported", u.Scheme)
		}
	default:
		return fmt.Errorf("mqtt.mode: %q is not embedded or external", c.Mode)
	}
	l := c.Limits
	if l.MaxPayload > MaxMaxPayload {
		return fmt.Errorf("mqtt.limits.max_payload: %s is above the %s a broker packet can carry", l.MaxPayload, MaxMaxPayload)
	}
	if l.MaxPayload < 64 || l.MaxPublishRate <= 0 || l.PublishBurst < 1 || l.MaxClients < 1 {
		return errors.New("mqtt.limits: max_payload >= 64 B, max_publish_rate > 0, publish_burst >= 1, max_clients >= 1")
	}
	if c.CommandTimeout < time.Second {
		return errors.New("mqtt.command_timeout: must be at least 1s")
	}
	passwords := map[string]string{}
	for i, o := range c.Operators {
		key := fmt.Sprintf("mqtt.operators[%d]", i)
		if o.Username == "" || strings.ContainsAny(o.Username, "/+#") {
			return fmt.Errorf("%s.username: %q must be non-empty without / + # (it names the reply topic)", key, o.Username)
		}
		if _, dup := passwords[o.Username]; dup {
			return fmt.Errorf("%s.username: %q used twice", key, o.Username)
		}
		passwords[o.Username] = o.Password
		for j, p := range append(append([]string(nil), o.MayOpen...), o.MayManage...) {
			if _, err := path.Match(p, "x/y"); err != nil || !strings.Contains(p, "/") {
				return fmt.Errorf("%s: pattern %d %q: want bank/compartment, e.g. bank1/*", key, j, p)
			}
		}
	}
	ids := map[string]bool{}
	for i, d := range c.Devices {
		if err := d.validate(c.Mode, passwords, ids); err != nil {
			return fmt.Errorf("mqtt.devices[%d].%w", i, err)
		}
	}
	return c.checkRights()
}

// checkRights refuses configs whose ACL would give a credential rights its
// kind must not have: each device's rights derive from its topic, so two
// device topics that overlap (one equal to or below the other), a sensor
// topic in the locker namespace, or one username used by a sensor and a
// locker bank would let one device write (or read) another's topics; a
// sensor credential could then command lockers.
func (c Config) checkRights() error {
	kindOf := map[string]string{} // username → kind
	for i, d := range c.Devices {
		key := fmt.Sprintf("mqtt.devices[%d]", i)
		if d.Kind == KindSensor && topicOverlaps(d.Topic, locker.TopicRoot) {
			return fmt.Errorf("%s.topic: %q overlaps the locker namespace %s/; a sensor may not publish there", key, d.Topic, locker.TopicRoot)
		}
		if k, ok := kindOf[d.Username]; ok && k != d.Kind {
			return fmt.Errorf("%s.username: %q is used by a %s and a %s; give each kind its own credentials", key, d.Username, k, d.Kind)
		}
		kindOf[d.Username] = d.Kind
		for j := range i {
			if o := c.Devices[j]; topicOverlaps(d.Topic, o.Topic) {
				return fmt.Errorf("%s.topic: %q overlaps mqtt.devices[%d] (%s, %q): each device needs its own topic subtree", key, d.Topic, j, o.ID, o.Topic)
			}
		}
	}
	for i, o := range c.Operators {
		if _, ok := kindOf[o.Username]; ok {
			return fmt.Errorf("mqtt.operators[%d].username: %q is also a device's username", i, o.Username)
		}
	}
	return nil
}

// topicOverlaps reports whether a equals b or one lies below the other.
func topicOverlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

func (d Device) validate(mode string, passwords map[string]string, ids map[string]bool) error {
	if d.ID == "" || strings.ContainsAny(d.ID, "/+#$ ") {
		return fmt.Errorf("id: %q must be non-empty without / + # $ or spaces", d.ID)
	}
	if ids[d.ID] {
		return fmt.Errorf("id: %q used twice", d.ID)
	}
	ids[d.ID] = true
	if mode == ModeEmbedded && d.Password == "" {
		return fmt.Errorf("password: required for %s in embedded mode", d.ID)
	}
	if prev, seen := passwords[d.Username]; seen && d.Password != "" && prev != "" && prev != d.Password {
		return fmt.Errorf("password: username %q is shared with a different password", d.Username)
	} else if !seen || prev == "" {
		passwords[d.Username] = d.Password
	}
	if strings.ContainsAny(d.Topic, "+#") || strings.HasPrefix(d.Topic, "$") || strings.HasSuffix(d.Topic, "/") {
		return fmt.Errorf("topic: %q must be a plain topic without wildcards", d.Topic)
	}
	switch d.Kind {
	case KindLocker:
		if d.Preset != "" || len(d.Mapping) > 0 {
			return errors.New("preset: a locker speaks the locker protocol; no preset or mapping")
		}
		if d.Topic != locker.TopicRoot+"/"+d.ID {
			return fmt.Errorf("topic: a locker's topic is %s/%s", locker.TopicRoot, d.ID)
		}
		return nil
	case KindSensor:
	default:
		return fmt.Errorf("kind: %q is not sensor or locker", d.Kind)
	}
	if (d.Preset == "") == (len(d.Mapping) == 0) {
		return errors.New("preset: give either a preset (zigbee2mqtt, tasmota) or a mapping")
	}
	if d.Preset != "" {
		if _, err := mapping.Preset(d.Preset); err != nil {
			return fmt.Errorf("preset: %w", err)
		}
		return nil
	}
	if _, err := mapping.Compile(d.Mapping); err != nil {
		return fmt.Errorf("mapping%w", err)
	}
	return nil
}
