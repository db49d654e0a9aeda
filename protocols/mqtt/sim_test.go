package mqtt

import (
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/mqtt/mapping"
	"github.com/polis-edge/polis/protocols/mqtt/mqttsim"
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
		got := rec.waitFor(t, c.dev+" "+c.meas, 1, measurement(c.dev, c.meas))
		if _, ok := got[0].Fields[c.field]; !ok {
			t.Errorf("%s %s lacks %s: %v", c.dev, c.meas, c.field, got[0].Fields)
		}
	}
	rec.waitFor(t, "smoke alarm event", 1, event("smoke-z", "smoke_alarm"))
	for _, d := range s.Devices() {
		for k, v := range d.Counters {
			if len(k) > 9 && k[:9] == "rejected_" {
				t.Errorf("%s: simulator output refused: %s=%d (%s)", d.ID, k, v, d.LastError)
			}
		}
	}
}
