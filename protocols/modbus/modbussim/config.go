// Package modbussim simulates the Modbus side of a post office over real
// sockets: a SunSpec PV inverter (models 1, 103, 120, 123, 160, 704) following
// a clear-sky curve with seeded clouds, a SunSpec meter (203), an Eastron
// SDM630 and a Carlo Gavazzi EM24 reporting grid = building load + chargers − PV.
// Faults (exceptions, silence, dropped connections, garbled frames, absurd
// values) can be configured or switched on at run time.
package modbussim

import (
	"fmt"
	"time"
)

// Device types.
const (
	TypeInverter = "sunspec_inverter"
	TypeMeter    = "sunspec_meter"
	TypeSDM630   = "sdm630"
	TypeEM24     = "em24"
)

// Config of a simulated office.
type Config struct {
	Lat   float64 `yaml:"lat"`   // default 41.9 (Rome)
	Lon   float64 `yaml:"lon"`   // default 12.5
	Clock string  `yaml:"clock"` // RFC3339 start of simulated time; "" = now
	Speed float64 `yaml:"speed"` // simulated seconds per real second; default 1
	Seed  int64   `yaml:"seed"`  // cloud and load noise
	// Cloudiness 0 (clear sky) .. 1 (overcast most of the time).
	Cloudiness float64 `yaml:"cloudiness"`
	// Building load: base when closed, peak during office hours (W).
	BaseLoadW float64        `yaml:"base_load_w"`
	PeakLoadW float64        `yaml:"peak_load_w"`
	Devices   []DeviceConfig `yaml:"devices"`
}

// DeviceConfig is one simulated unit. Devices sharing Addr share one server,
// like units behind one RS485 gateway.
type DeviceConfig struct {
	Name    string  `yaml:"name"`
	Type    string  `yaml:"type"`
	Addr    string  `yaml:"addr"`    // host:port; default 127.0.0.1:0
	Gateway string  `yaml:"gateway"` // devices naming the same gateway share one server
	Unit    uint8   `yaml:"unit"`
	RatedW  float64 `yaml:"rated_w"` // inverter only; default 20000
	Strings int     `yaml:"strings"` // MPPT strings; default 2
	Legacy  bool    `yaml:"legacy"`  // inverter without model 704 (curtailment via 123 only)
	Faults  Faults  `yaml:"faults"`
}

// Faults are per-request probabilities (0..1).
type Faults struct {
	Exception float64 `yaml:"exception"` // answer with exception 4 (server device failure)
	Timeout   float64 `yaml:"timeout"`   // never answer
	Drop      float64 `yaml:"drop"`      // close the connection
	Garble    float64 `yaml:"garble"`    // answer with a corrupted frame
	Nonsense  float64 `yaml:"nonsense"`  // answer with absurd values (10 MW inverter)
}

// DefaultConfig is one of each device on its own free port.
func DefaultConfig() Config {
	c := Config{Devices: []DeviceConfig{
		{Name: "inv1", Type: TypeInverter, Unit: 1},
		{Name: "meter1", Type: TypeMeter, Unit: 1},
		{Name: "sdm630", Type: TypeSDM630, Unit: 1},
		{Name: "em24", Type: TypeEM24, Unit: 1},
	}}
	c.ApplyDefaults()
	return c
}

// ApplyDefaults fills unset values.
func (c *Config) ApplyDefaults() {
	if c.Lat == 0 && c.Lon == 0 {
		c.Lat, c.Lon = 41.9, 12.5
	}
	if c.Speed == 0 {
		c.Speed = 1
	}
	if c.BaseLoadW == 0 {
		c.BaseLoadW = 1500
	}
	if c.PeakLoadW == 0 {
		c.PeakLoadW = 6000
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Addr == "" {
			d.Addr = "127.0.0.1:0"
		}
		if d.Unit == 0 {
			d.Unit = 1
		}
		if d.RatedW == 0 {
			d.RatedW = 20000
		}
		if d.Strings == 0 {
			d.Strings = 2
		}
	}
}

// Validate names the offending key.
func (c *Config) Validate() error {
	if c.Clock != "" {
		if _, err := time.Parse(time.RFC3339, c.Clock); err != nil {
			return fmt.Errorf("modbussim.clock: %v", err)
		}
	}
	if c.Lat < 35 || c.Lat > 48 || c.Lon < 6 || c.Lon > 19 {
		return fmt.Errorf("modbussim.lat/lon: %.2f,%.2f is not in Italy", c.Lat, c.Lon)
	}
	if c.Speed < 0 || c.Cloudiness < 0 || c.Cloudiness > 1 {
		return fmt.Errorf("modbussim: speed must be >= 0 and cloudiness 0..1")
	}
	names := map[string]bool{}
	for i, d := range c.Devices {
		key := fmt.Sprintf("modbussim.devices[%d]", i)
		if d.Name == "" || names[d.Name] {
			return fmt.Errorf("%s.name: missing or duplicate %q", key, d.Name)
		}
		names[d.Name] = true
		switch d.Type {
		case TypeInverter, TypeMeter, TypeSDM630, TypeEM24:
		default:
			return fmt.Errorf("%s.type: unknown %q", key, d.Type)
		}
		if d.Strings < 0 || d.Strings > 8 {
			return fmt.Errorf("%s.strings: want 1-8", key)
		}
		for _, p := range []float64{d.Faults.Exception, d.Faults.Timeout, d.Faults.Drop, d.Faults.Garble, d.Faults.Nonsense} {
			if p < 0 || p > 1 {
				return fmt.Errorf("%s.faults: probabilities must be 0..1", key)
			}
		}
	}
	return nil
}
