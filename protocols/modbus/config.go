// Package modbus polls PV inverters and grid meters over Modbus TCP, RTU and
// RTU over TCP, decodes SunSpec models or vendor register-map templates, and
// turns them into pv/grid samples, health and events. It also writes SunSpec
// curtailment (models 704/123) for the energy rules.
package modbus

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/polis-edge/polis/protocols/modbus/templates"
)

// Config is the modbus section of the edge configuration.
type Config struct {
	Buses   []BusConfig    `yaml:"buses"`
	Devices []DeviceConfig `yaml:"devices"`
}

// BusConfig is one physical connection: a TCP endpoint, a serial line or an
// RS485 gateway. All devices on it share one owner goroutine.
type BusConfig struct {
	ID           string        `yaml:"id"`
	URL          string        `yaml:"url"`       // tcp://host:port, rtu:///dev/ttyUSB0, rtuovertcp://host:port
	Baud         uint          `yaml:"baud"`      // rtu only
	Parity       string        `yaml:"parity"`    // none|even|odd (rtu only)
	StopBits     uint          `yaml:"stop_bits"` // rtu only; 0 = library default
	Timeout      time.Duration `yaml:"timeout"`
	RequestDelay time.Duration `yaml:"request_delay"` // pause between requests for slow gateways
	MaxRegisters int           `yaml:"max_registers"` // default for its devices
}

// DeviceConfig is one unit behind a bus.
type DeviceConfig struct {
	ID           string        `yaml:"id"`
	Bus          string        `yaml:"bus"`
	Unit         int           `yaml:"unit"`
	Kind         string        `yaml:"kind"` // inverter | meter
	Poll         time.Duration `yaml:"poll"`
	SunSpec      bool          `yaml:"sunspec"`
	Template     string        `yaml:"template"`
	MaxPowerW    float64       `yaml:"max_power_w"`   // plausibility bound
	MaxRegisters int           `yaml:"max_registers"` // 0 = the bus's
	// LimitRevert is the revert timeout written with a curtailment: if the edge
	// dies, the inverter falls back to full power after it. Refreshed at half.
	LimitRevert time.Duration `yaml:"limit_revert"`
}

// Kinds of device.
const (
	KindInverter = "inverter"
	KindMeter    = "meter"
)

// Defaults.
const (
	DefaultTimeout      = time.Second
	DefaultPoll         = time.Second
	DefaultMaxRegisters = 125
	DefaultLimitRevert  = 120 * time.Second
)

// ApplyDefaults fills unset values.
func (c *Config) ApplyDefaults() {
	for i := range c.Buses {
		b := &c.Buses[i]
		if b.Timeout == 0 {
			b.Timeout = DefaultTimeout
		}
		if b.MaxRegisters == 0 {
			b.MaxRegisters = DefaultMaxRegisters
		}
		if b.Parity == "" {
			b.Parity = "none"
		}
		if b.Baud == 0 && strings.HasPrefix(b.URL, "rtu://") {
			b.Baud = 9600
		}
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Poll == 0 {
			d.Poll = DefaultPoll
		}
		if d.LimitRevert == 0 {
			d.LimitRevert = DefaultLimitRevert
		}
		if d.MaxRegisters == 0 {
			if b := c.bus(d.Bus); b != nil {
				d.MaxRegisters = b.MaxRegisters
			}
		}
	}
}

func (c *Config) bus(id string) *BusConfig {
	for i := range c.Buses {
		if c.Buses[i].ID == id {
			return &c.Buses[i]
		}
	}
	return nil
}

// Validate reports the first problem, naming its key.
func (c *Config) Validate() error {
	seen := map[string]bool{}
	for i, b := range c.Buses {
		key := fmt.Sprintf("modbus.buses[%d]", i)
		if err := b.validate(key); err != nil {
			return err
		}
		if seen[b.ID] {
			return fmt.Errorf("%s.id: duplicate bus %q", key, b.ID)
		}
		seen[b.ID] = true
	}
	devs := map[string]bool{}
	for i, d := range c.Devices {
		key := fmt.Sprintf("modbus.devices[%d]", i)
		if err := d.validate(key, c.bus(d.Bus)); err != nil {
			return err
		}
		if devs[d.ID] {
			return fmt.Errorf("%s.id: duplicate device %q", key, d.ID)
		}
		devs[d.ID] = true
	}
	return nil
}

func (b BusConfig) validate(key string) error {
	if b.ID == "" {
		return fmt.Errorf("%s.id: required", key)
	}
	u, err := url.Parse(b.URL)
	if err != nil || b.URL == "" {
		return fmt.Errorf("%s.url: want tcp://host:port, rtu:///dev/tty… or rtuovertcp://host:port, got %q", key, b.URL)
	}
	switch u.Scheme {
	case "tcp", "rtuovertcp":
		if u.Host == "" || u.Port() == "" {
			return fmt.Errorf("%s.url: %q needs host:port", key, b.URL)
		}
	case "rtu":
		if u.Path == "" {
			return fmt.Errorf("%s.url: %q needs a device path (rtu:///dev/ttyUSB0)", key, b.URL)
		}
	default:
		return fmt.Errorf("%s.url: unsupported scheme %q (tcp, rtu, rtuovertcp)", key, u.Scheme)
	}
	switch b.Parity {
	case "", "none", "even", "odd":
	default:
		return fmt.Errorf("%s.parity: want none, even or odd, got %q", key, b.Parity)
	}
	if b.StopBits > 2 {
		return fmt.Errorf("%s.stop_bits: want 1 or 2", key)
	}
	if b.Timeout < 0 || b.Timeout > time.Minute {
		return fmt.Errorf("%s.timeout: want 0-1m, got %s", key, b.Timeout)
	}
	if b.RequestDelay < 0 || b.RequestDelay > 10*time.Second {
		return fmt.Errorf("%s.request_delay: want 0-10s, got %s", key, b.RequestDelay)
	}
	if b.MaxRegisters < 0 || b.MaxRegisters > 125 {
		return fmt.Errorf("%s.max_registers: want 1-125, got %d", key, b.MaxRegisters)
	}
	return nil
}

func (d DeviceConfig) validate(key string, bus *BusConfig) error {
	if d.ID == "" {
		return fmt.Errorf("%s.id: required", key)
	}
	if bus == nil {
		return fmt.Errorf("%s.bus: no bus with id %q", key, d.Bus)
	}
	if d.Unit < 0 || d.Unit > 255 || (d.Unit == 0 && !strings.HasPrefix(bus.URL, "tcp")) || d.Unit > 247 && d.Unit != 255 {
		return fmt.Errorf("%s.unit: must be 1-247 (or 0/255 on plain Modbus TCP), got %d", key, d.Unit)
	}
	if d.Kind != KindInverter && d.Kind != KindMeter {
		return fmt.Errorf("%s.kind: want inverter or meter, got %q", key, d.Kind)
	}
	if d.SunSpec == (d.Template != "") {
		return fmt.Errorf("%s: set exactly one of sunspec: true or template: NAME", key)
	}
	if d.Template != "" {
		t, err := templates.Load(d.Template)
		if err != nil {
			return fmt.Errorf("%s.template: %w", key, err)
		}
		if t.Kind != d.Kind {
			return fmt.Errorf("%s.template: %s is a %s template, device kind is %s", key, d.Template, t.Kind, d.Kind)
		}
	}
	if d.Poll < 0 || (d.Poll > 0 && d.Poll < 100*time.Millisecond) || d.Poll > time.Hour {
		return fmt.Errorf("%s.poll: want 100ms-1h, got %s", key, d.Poll)
	}
	if d.MaxPowerW < 0 {
		return fmt.Errorf("%s.max_power_w: must be >= 0", key)
	}
	if d.MaxRegisters < 0 || d.MaxRegisters > 125 {
		return fmt.Errorf("%s.max_registers: want 1-125, got %d", key, d.MaxRegisters)
	}
	if d.LimitRevert < 0 || (d.LimitRevert > 0 && d.LimitRevert < 10*time.Second) || d.LimitRevert > 65535*time.Second {
		return fmt.Errorf("%s.limit_revert: want 10s-18h, got %s", key, d.LimitRevert)
	}
	return nil
}
