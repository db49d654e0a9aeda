package mapping

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

var now = time.Date(2025, 3, 4, 10, 15, 0, 0, time.UTC)

func mustPreset(t *testing.T, name string) *Mapping {
	t.Helper()
	rules, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "mqtt", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// byMeasurement indexes samples so tests read like the schema doc.
func byMeasurement(ss []sample.Sample) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, s := range ss {
		out[s.Measurement] = s.Fields
	}
	return out
}

func TestPresets(t *testing.T) {
	tests := []struct {
		preset, file, rel string
		want              map[string]map[string]any
	}{
		{PresetZigbee2MQTT, "z2m_climate.json", "", map[string]map[string]any{
			"env":         {"temperature_c": 21.7, "humidity_pct": 48.2},
			"sensor_diag": {"battery_pct": 87.0, "linkquality": 132.0},
		}},
		{PresetZigbee2MQTT, "z2m_air.json", "", map[string]map[string]any{
			"env": {"co2_ppm": 812.0, "pm25_ugm3": 9.5, "pm10_ugm3": 14.0, "voc_ppb": 120.0, "temperature_c": 22.4, "humidity_pct": 41.0},
		}},
		{PresetZigbee2MQTT, "z2m_contact.json", "", map[string]map[string]any{
			"contact":     {"open": true},
			"sensor_diag": {"battery_pct": 100.0, "linkquality": 90.0, "tamper": false},
		}},
		{PresetZigbee2MQTT, "z2m_leak.json", "", map[string]map[string]any{
			"leak":        {"leak": true},
			"sensor_diag": {"battery_pct": 95.0, "linkquality": 60.0, "battery_low": false},
		}},
		{PresetZigbee2MQTT, "z2m_smoke.json", "", map[string]map[string]any{
			"smoke":       {"smoke": true},
			"sensor_diag": {"battery_pct": 70.0, "linkquality": 70.0},
		}},
		{PresetZigbee2MQTT, "z2m_illuminance.json", "", map[string]map[string]any{
			"env": {"illuminance_lux": 412.0},
		}},
		{PresetZigbee2MQTT, "z2m_plug.json", "", map[string]map[string]any{
			"submeter": {"power_w": 1230.5, "energy_kwh": 15.27, "voltage_v": 229.8, "current_a": 5.36},
		}},
		{PresetTasmota, "tasmota_sensor_am2301.json", "SENSOR", map[string]map[string]any{
			"env": {"temperature_c": (70.7 - 32) * 5 / 9, "humidity_pct": 44.1},
		}},
		{PresetTasmota, "tasmota_sensor_scd30.json", "SENSOR", map[string]map[string]any{
			"env": {"temperature_c": 23.1, "humidity_pct": 38.0, "co2_ppm": 1045.0, "pm25_ugm3": 11.2, "pm10_ugm3": 18.9, "illuminance_lux": 350.0},
		}},
		{PresetTasmota, "tasmota_sensor_energy.json", "SENSOR", map[string]map[string]any{
			"submeter": {"power_w": 850.0, "energy_kwh": 1532.118, "voltage_v": 231.0, "current_a": 3.9, "power_factor": 0.94},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m := mustPreset(t, tc.preset)
			got, rejects := m.Apply("x/dev/"+tc.rel, tc.rel, payload(t, tc.file), map[string]string{"device": "dev"}, now)
			if len(rejects) > 0 {
				t.Fatalf("rejects: %v", rejects)
			}
			idx := byMeasurement(got)
			if len(idx) != len(tc.want) {
				t.Fatalf("measurements = %v, want %v", idx, tc.want)
			}
			for meas, fields := range tc.want {
				if len(idx[meas]) != len(fields) {
					t.Errorf("%s fields = %v, want %v", meas, idx[meas], fields)
				}
				for k, v := range fields {
					if g, ok := idx[meas][k]; !ok || !equal(g, v) {
						t.Errorf("%s.%s = %v, want %v", meas, k, g, v)
					}
				}
			}
			for _, s := range got {
				if s.Tags["device"] != "dev" {
					t.Errorf("device tag missing on %s", s.Measurement)
				}
				if err := s.Validate(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func equal(a, b any) bool {
	fa, ok1 := a.(float64)
	fb, ok2 := b.(float64)
	if ok1 && ok2 {
		return math.Abs(fa-fb) < 1e-9
	}
	return a == b
}

func TestCustomMappingArraysScaleAndTopicTags(t *testing.T) {
	lo, hi := 300.0, 5000.0
	m, err := Compile([]Rule{{
		Match:       "+/data",
		Measurement: "env",
		Tags:        map[string]string{"room": "$3", "kind": "custom"},
		Fields: []Field{
			{Name: "temperature_c", Path: "readings[type=temp].value", Scale: 0.1},
			{Name: "humidity_pct", Path: "readings[1].value", Scale: 0.1},
			{Name: "co2_ppm", Path: "readings[type=co2].value", Min: &lo, Max: &hi, Type: "int"},
			{Name: "firmware", Path: "meta.fw", Type: "string"},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, rejects := m.Apply("office/ws-7/sportello/data", "sportello/data", payload(t, "custom_array.json"), nil, now)
	if len(rejects) > 0 || len(got) != 1 {
		t.Fatalf("got %v rejects %v", got, rejects)
	}
	s := got[0]
	if s.Tags["room"] != "sportello" || s.Tags["kind"] != "custom" {
		t.Errorf("tags = %v", s.Tags)
	}
	want := map[string]any{"temperature_c": 21.5, "humidity_pct": 50.2, "co2_ppm": int64(650), "firmware": "1.2"}
	for k, v := range want {
		if !equal(s.Fields[k], v) {
			t.Errorf("%s = %v (%T), want %v", k, s.Fields[k], s.Fields[k], v)
		}
	}
}

func TestBadInputIsRefusedWithReason(t *testing.T) {
	m := mustPreset(t, PresetZigbee2MQTT)
	tests := []struct {
		name, payload string
		reason        string
		keep          string // a field that must survive next to the bad one
	}{
		{"invalid json", `{"temperature": 21.`, ReasonInvalidJSON, ""},
		{"NaN literal", `{"temperature": NaN}`, ReasonInvalidJSON, ""},
		{"trailing garbage", `{"temperature": 21} x`, ReasonInvalidJSON, ""},
		{"wrong type", `{"temperature": {"v":1}, "humidity": 40}`, ReasonWrongType, "humidity_pct"},
		{"NaN string", `{"temperature": "NaN", "humidity": 40}`, ReasonNotFinite, "humidity_pct"},
		{"Inf string", `{"temperature": "+Inf"}`, ReasonNotFinite, ""},
		{"500 degrees", `{"temperature": 500, "humidity": 40}`, ReasonOutOfRange, "humidity_pct"},
		{"negative humidity", `{"humidity": -3}`, ReasonOutOfRange, ""},
		{"bool as number", `{"water_leak": 7}`, ReasonWrongType, ""},
		{"nothing mapped", `{"foo": 1}`, ReasonNoFields, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rejects := m.Apply("z/dev", "", []byte(tc.payload), nil, now)
			if len(rejects) != 1 || rejects[0].Reason != tc.reason {
				t.Fatalf("rejects = %v, want one %s", rejects, tc.reason)
			}
			for _, s := range got {
				if _, bad := s.Fields["temperature_c"]; bad {
					t.Errorf("refused temperature stored: %v", s.Fields)
				}
			}
			if tc.keep != "" && (len(got) != 1 || got[0].Fields[tc.keep] == nil) {
				t.Errorf("valid field %s lost: %v", tc.keep, got)
			}
			if tc.keep == "" && len(got) != 0 {
				t.Errorf("samples from refused payload: %v", got)
			}
		})
	}
	tas := mustPreset(t, PresetTasmota)
	if _, rejects := tas.Apply("tele/x/FOO/bar", "FOO/bar", []byte(`{}`), nil, now); len(rejects) != 1 || rejects[0].Reason != ReasonUnknownTopic {
		t.Errorf("unknown topic rejects = %v", rejects)
	}
	if got, rejects := tas.Apply("tele/x/INFO1", "INFO1", []byte(`{"Module":"Generic"}`), nil, now); len(got)+len(rejects) != 0 {
		t.Errorf("INFO1 should be ignored quietly: %v %v", got, rejects)
	}
}

func TestCompileErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		rules []Rule
		want  string
	}{
		{[]Rule{{Fields: []Field{{Name: "a", Path: "a"}}}}, "[0].measurement: required"},
		{[]Rule{{Measurement: "m", Fields: []Field{{Name: "a", Path: "a[x"}}}}, "[0].fields[0]: path:"},
		{[]Rule{{Measurement: "m", Fields: []Field{{Name: "a", Path: "a", Convert: "c_to_k"}}}}, "[0].fields[0]: convert: unknown conversion"},
		{[]Rule{{Measurement: "m", Fields: []Field{{Name: "a", Path: "a", Type: "double"}}}}, "[0].fields[0]: type:"},
	}
	for _, tc := range tests {
		_, err := Compile(tc.rules)
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
