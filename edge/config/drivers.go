package config

import (
	"github.com/polis-edge/polis/protocols/ipcheck"
	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/mqtt"
	"github.com/polis-edge/polis/protocols/ocpp"
)

// Drivers holds the device sections. Each protocol package owns its config
// type, defaults and validation; a missing section means "no such devices".
type Drivers struct {
	Modbus *modbus.Config `yaml:"modbus"`
	OCPP   *ocpp.Config   `yaml:"ocpp"`
	MQTT   *mqtt.Config   `yaml:"mqtt"`
	// IPCheck watches IP equipment (ATMs, kiosks) by TCP connect or HTTP GET.
	IPCheck *ipcheck.Config `yaml:"ipcheck"`
}

func (d *Drivers) applyDefaults() {
	if d.Modbus != nil {
		d.Modbus.ApplyDefaults()
	}
	if d.OCPP != nil {
		d.OCPP.ApplyDefaults()
	}
	if d.MQTT != nil {
		c := *d.MQTT
		c.ApplyDefaults()
		d.MQTT = &c
	}
	if d.IPCheck != nil {
		d.IPCheck.ApplyDefaults()
	}
}

func (d Drivers) validate() []string {
	var errs []string
	if d.Modbus != nil {
		if err := d.Modbus.Validate(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if d.OCPP != nil {
		if err := d.OCPP.Validate(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if d.MQTT != nil {
		if err := d.MQTT.Validate(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if d.IPCheck != nil {
		if err := d.IPCheck.Validate(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs
}
