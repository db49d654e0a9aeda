package edge

import (
	"fmt"

	"github.com/polis-edge/polis/protocols/ipcheck"
	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/mqtt"
	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/promtext"
)

// buildDrivers creates the device services named in the config. Each protocol
// package validates its own section; a driver that cannot be built stops the
// daemon before anything starts.
func (d *Daemon) buildDrivers() error {
	if c := d.cfg.Modbus; c != nil {
		s, err := modbus.New(*c, d.sink, d.log.With("driver", "modbus"))
		if err != nil {
			return fmt.Errorf("modbus: %w", err)
		}
		d.modbus = s
		d.addDriver("modbus", s)
	}
	if c := d.cfg.OCPP; c != nil {
		s, err := ocpp.New(*c, d.state, d.sink, d.log.With("driver", "ocpp"))
		if err != nil {
			return fmt.Errorf("ocpp: %w", err)
		}
		d.ocpp = s
		d.addDriver("ocpp", s)
	}
	if c := d.cfg.MQTT; c != nil {
		s, err := mqtt.New(*c, d.state, d.sink, d.log.With("driver", "mqtt"))
		if err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		d.mqtt = s
		d.addDriver("mqtt", s)
	}
	if c := d.cfg.IPCheck; c != nil {
		s, err := ipcheck.New(*c, d.sink, d.log.With("driver", "ipcheck"))
		if err != nil {
			return fmt.Errorf("ipcheck: %w", err)
		}
		d.addDriver("ipcheck", s)
	}
	return nil
}

func (d *Daemon) addDriver(name string, drv driver) {
	d.drivers = append(d.drivers, drv)
	d.driverStates = append(d.driverStates, &driverState{st: DriverStatus{Name: name, State: DriverRunning}})
}

// metricsWriter is implemented by drivers with metrics of their own.
type metricsWriter interface {
	Metrics(p *promtext.Writer)
}

// MQTT is the office broker service, nil when the config has no mqtt section.
// The HTTP command layer and tests reach the locker API through it.
func (d *Daemon) MQTT() *mqtt.Service { return d.mqtt }

// Modbus is the inverter and meter service, nil without a modbus section. The
// rules reach curtailment (SetProductionLimit) through it.
func (d *Daemon) Modbus() *modbus.Service { return d.modbus }

// OCPP is the chargers' local central system, nil without an ocpp section. The
// rules set charging limits (SetLimit) and read connectors (Snapshot) through it.
func (d *Daemon) OCPP() *ocpp.Service { return d.ocpp }
