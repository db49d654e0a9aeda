package mapping

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Conversions are the named unit conversions a field may apply.
var Conversions = map[string]func(float64) float64{
	"":          func(x float64) float64 { return x },
	"f_to_c":    func(x float64) float64 { return (x - 32) * 5 / 9 },
	"k_to_c":    func(x float64) float64 { return x - 273.15 },
	"wh_to_kwh": func(x float64) float64 { return x / 1000 },
	"kw_to_w":   func(x float64) float64 { return x * 1000 },
	"pa_to_hpa": func(x float64) float64 { return x / 100 },
	"ppm_to_ppb": func(x float64) float64 {
		return x * 1000
	},
	"fraction_to_pct": func(x float64) float64 { return x * 100 },
}

// defaultRanges bound the canonical fields (docs/schema-mqtt.md). They hold
// even for custom mappings without min/max, so a garbled 500 °C never lands
// in InfluxDB as a valid reading.
var defaultRanges = map[string][2]float64{
	"temperature_c":   {-50, 100},
	"humidity_pct":    {0, 100},
	"co2_ppm":         {0, 40000},
	"pm25_ugm3":       {0, 2000},
	"pm10_ugm3":       {0, 2000},
	"voc_ppb":         {0, 100000},
	"voc_index":       {0, 500},
	"illuminance_lux": {0, 200000},
	"pressure_hpa":    {300, 1100},
	"power_w":         {-100000, 100000},
	"energy_kwh":      {0, 1e9},
	"voltage_v":       {0, 500},
	"current_a":       {0, 500},
	"power_factor":    {-1, 1},
	"battery_pct":     {0, 100},
	"linkquality":     {0, 255},
	"rssi_dbm":        {-150, 0},
}

// DefaultRange returns the plausible range of a canonical field name, or an
// unbounded range for other names.
func DefaultRange(name string) (lo, hi float64) {
	if r, ok := defaultRanges[name]; ok {
		return r[0], r[1]
	}
	return math.Inf(-1), math.Inf(1)
}

// Preset names.
const (
	PresetZigbee2MQTT = "zigbee2mqtt"
	PresetTasmota     = "tasmota"
)

// Preset returns the rules of a built-in preset.
func Preset(name string) ([]Rule, error) {
	switch name {
	case PresetZigbee2MQTT:
		return zigbee2mqtt, nil
	case PresetTasmota:
		return tasmota, nil
	}
	names := []string{PresetZigbee2MQTT, PresetTasmota}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown preset %q (have %s)", name, strings.Join(names, ", "))
}

func f(name, path string) Field { return Field{Name: name, Path: path} }
func b(name, path string) Field { return Field{Name: name, Path: path, Type: "bool"} }

// Zigbee2MQTT publishes one flat JSON object per device on
// zigbee2mqtt/<friendly_name>; key names follow its device "exposes".
var zigbee2mqtt = []Rule{
	{Measurement: "env", Fields: []Field{
		f("temperature_c", "temperature"),
		f("humidity_pct", "humidity"),
		f("co2_ppm", "co2"),
		f("pm25_ugm3", "pm25"),
		f("pm10_ugm3", "pm10"),
		f("voc_ppb", "voc"),
		f("voc_index", "voc_index"),
		f("illuminance_lux", "illuminance_lux|illuminance"),
		f("pressure_hpa", "pressure"),
	}},
	{Measurement: "contact", Fields: []Field{{Name: "open", Path: "contact", Type: "bool", Invert: true}}},
	{Measurement: "leak", Fields: []Field{b("leak", "water_leak")}},
	{Measurement: "smoke", Fields: []Field{b("smoke", "smoke")}},
	{Measurement: "submeter", When: "power|energy", Fields: []Field{
		f("power_w", "power"),
		f("energy_kwh", "energy"),
		f("voltage_v", "voltage"),
		f("current_a", "current"),
		f("power_factor", "power_factor"),
	}},
	{Measurement: "sensor_diag", Fields: []Field{
		f("battery_pct", "battery"),
		f("linkquality", "linkquality"),
		b("tamper", "tamper"),
		b("battery_low", "battery_low"),
	}},
}

var tempUnits = map[string]string{"F": "f_to_c", "C": ""}

// Tasmota publishes tele/<topic>/SENSOR with one sub-object per sensor
// chip and a TempUnit key, and tele/<topic>/STATE with Wifi.RSSI.
var tasmota = []Rule{
	{Match: "SENSOR", Measurement: "env", Fields: []Field{
		{Name: "temperature_c", Path: "*.Temperature", UnitPath: "TempUnit", Units: tempUnits},
		f("humidity_pct", "*.Humidity"),
		f("co2_ppm", "*.CarbonDioxide|*.eCO2"),
		f("pm25_ugm3", `*.PM2\.5|*.PM2_5`),
		f("pm10_ugm3", "*.PM10"),
		f("voc_ppb", "*.TVOC"),
		f("illuminance_lux", "*.Illuminance"),
		f("pressure_hpa", "*.Pressure"),
	}},
	{Match: "SENSOR", Measurement: "submeter", Fields: []Field{
		f("power_w", "ENERGY.Power"),
		f("energy_kwh", "ENERGY.Total"),
		f("voltage_v", "ENERGY.Voltage"),
		f("current_a", "ENERGY.Current"),
		f("power_factor", "ENERGY.Factor"),
	}},
	{Match: "STATE", Measurement: "sensor_diag", Fields: []Field{f("rssi_dbm", "Wifi.Signal")}},
	// Announcements that carry no measurement: accepted, not counted as unknown.
	{Match: "+", Ignore: true},
}
