package mqtt

import (
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
	"github.com/polis-edge/polis/protocols/sample"
)

// customReadings maps the simulator's custom JSON shape (values in tenths).
var customReadings = []mapping.Rule{{Match: "data", Measurement: "env", Fields: []mapping.Field{
	{Name: "temperature_c", Path: "readings[type=temperature].value", Scale: 0.1},
	{Name: "humidity_pct", Path: "readings[type=humidity].value", Scale: 0.1},
	{Name: "co2_ppm", Path: "readings[type=co2].value", Scale: 0.1},
}}}

func TestSimulatedSensorsInEveryShape(t *testing.T) {
	rec := newRecorder()
	cfg := Config{Devices: []Device{
		{ID: "th-z", Password: "p", Preset: "zigbee2mqtt"},
		{ID: "air-t", Password: "p", Preset: "tasmota"},
		{ID: "air-c", Password: "p", Mapping: customReadings},
		{ID: "plug-z", Password: "p", Preset: "zigbee2mqtt"},
		{ID: "smoke-z", Password: "p", Preset: "zigbee2mqtt"},
	}}
	s := startService(t, cfg, rec, openDB(t))
	sensors := []mqttsim.SensorConfig{
		{ID: "th-z", Kind: mqttsim.KindClimate, Shape: mqttsim.ShapeZigbee2MQTT, Password: "p"},
		{ID: "air-t", Kind: mqttsim.KindAir, Shape: mqttsim.ShapeTasmota, Password: "p"},
		{ID: "air-c", Kind: mqttsim.KindAir, Shape: mqttsim.ShapeCustom, Password: "p"},
		{ID: "plug-z", Kind: mqttsim.KindPlug, Shape: mqttsim.ShapeZigbee2MQTT, Password: "p"},
		{ID: "smoke-z", Kind: mqttsim.KindSmoke, Shape: mqttsim.ShapeZigbee2MQTT, Password: "p", AlarmProb: 1},
	}
	go mqttsim.Run(t.Context(), mqttsim.Config{URL: brokerURL(s), Interval: 200 * time.Millisecond, Sensors: sensors}, quietLogger())
	for _, c := range []struct{ dev, meas, field string }{
		{"th-z", "env", "temperature_c"}, {"air-t", "env", "co2_ppm"}, {"air-c", "env", "co2_ppm"},
		{"plug-z", "submeter", "energy_kwh"}, {"smoke-z", "smoke", "smoke"},
	} {
		got := rec.WaitFor(t, c.dev+" "+c.meas, 1, measurement(c.dev, c.meas))
		if _, ok := got[0].Fields[c.field]; !ok {
			t.Errorf("%s %s lacks %s: %v", c.dev, c.meas, c.field, got[0].Fields)
		}
	}
	rec.WaitFor(t, "smoke alarm event", 1, event("smoke-z", "smoke_alarm"))
	for _, d := range s.Devices() {
		for k, v := range d.Counters {
			if len(k) > 9 && k[:9] == "rejected_" {
				t.Errorf("%s: simulator output refused: %s=%d (%s)", d.ID, k, v, d.LastError)
			}
		}
	}
}

func TestSimulatedBankPowerAndControllerFaults(t *testing.T) {
	rec := newRecorder()
	cfg := officeConfig()
	cfg.Devices = append(cfg.Devices, Device{ID: "bank2", Kind: KindLocker, Password: "bank2-pass"})
	s := startService(t, cfg, rec, openDB(t))
	// bank1 fails on request; bank2 on its own, at rates that make it certain within seconds.
	bank1 := mqttsim.NewBank(mqttsim.BankConfig{ID: "bank1", Password: "bank-pass", Compartments: 4}, brokerURL(s), 4)
	bank2 := mqttsim.NewBank(mqttsim.BankConfig{ID: "bank2", Password: "bank2-pass", Compartments: 4,
		PowerFailuresPerDay: 86400, FaultsPerDay: 86400}, brokerURL(s), 5)
	go bank1.Run(t.Context())
	go bank2.Run(t.Context())
	rec.WaitFor(t, "bank1 status", 1, measurement("bank1", "locker"))

	onBattery := func(dev string) func(sample.Sample) bool {
		return func(smp sample.Sample) bool {
			return measurement(dev, "locker")(smp) && smp.Fields["power"] == "battery"
		}
	}
	critical := func(dev, kind string) func(sample.Sample) bool {
		return func(smp sample.Sample) bool {
			return event(dev, kind)(smp) && smp.Fields["severity"] == sample.SeverityCritical
		}
	}
	bank1.PowerFailure()
	rec.WaitFor(t, "bank1 critical power_failure", 1, critical("bank1", "locker_power_failure"))
	rec.WaitFor(t, "bank1 status on battery", 1, onBattery("bank1"))
	bank1.PowerRestored()
	restored := rec.WaitFor(t, "bank1 power_restored", 1, event("bank1", "locker_power_restored"))[0]
	if restored.Fields["severity"] != sample.SeverityInfo {
		t.Errorf("power_restored = %v", restored.Fields)
	}
	bank1.ControllerFault("CAN bus error")
	fault := rec.WaitFor(t, "bank1 critical controller_fault", 1, critical("bank1", "locker_controller_fault"))[0]
	if msg, _ := fault.Fields["message"].(string); !strings.Contains(msg, "CAN bus error") {
		t.Errorf("controller fault event lacks the detail: %v", fault.Fields)
	}

	rec.WaitFor(t, "bank2 critical power_failure", 1, critical("bank2", "locker_power_failure"))
	rec.WaitFor(t, "bank2 status on battery", 1, onBattery("bank2"))
	rec.WaitFor(t, "bank2 critical controller_fault", 1, critical("bank2", "locker_controller_fault"))
	for _, d := range s.Devices() {
		if d.Counters["rejected_invalid_message"] != 0 {
			t.Errorf("%s: simulator messages refused: %s", d.ID, d.LastError)
		}
	}
}
