package mapping

import (
	"math"
	"testing"
)

// FuzzApply: whatever a sensor sends on whatever topic, mapping never
// panics, and every sample it returns is one the buffer can store (encodes
// as line protocol, finite numbers); everything else is a counted refusal.
// Seeds: testdata/fuzz/FuzzApply and the payloads below.
func FuzzApply(f *testing.F) {
	for _, s := range []struct{ seg, payload string }{
		{"th1", `{"temperature":21.7,"humidity":48.2,"battery":87,"linkquality":132}`},
		{"SENSOR", `{"Time":"2025-03-04T10:15:00","AM2301":{"Temperature":71.1,"Humidity":40},"TempUnit":"F"}`},
		{"SENSOR", `{"ENERGY":{"Total":1532.118,"Power":850,"Voltage":230}}`},
		{"hall\nx", `{"t":1e20,"n":9007199254740993}`},
		{`hall\`, `{"t":"NaN","n":"1e999"}`},
		{"", `[1,2,{"type":"co2","v":400}]`},
		{"a b,c=d", `{"contact":false,"water_leak":"wet"}`},
	} {
		f.Add(s.seg, []byte(s.payload))
	}
	var maps []*Mapping
	for _, name := range []string{PresetZigbee2MQTT, PresetTasmota} {
		rules, err := Preset(name)
		if err != nil {
			f.Fatal(err)
		}
		m, err := Compile(rules)
		if err != nil {
			f.Fatal(err)
		}
		maps = append(maps, m)
	}
	custom, err := Compile([]Rule{{Match: "#", Measurement: "m", Tags: map[string]string{"room": "$3", "fixed": "x"},
		Fields: []Field{
			{Name: "count", Path: "n", Type: "int"},
			{Name: "scaled", Path: "t", Type: "int", Scale: 1e10},
			{Name: "value", Path: "t|list[type=co2].v"},
			{Name: "label", Path: "s", Type: "string"},
			{Name: "flag", Path: "b", Type: "bool"},
		}}})
	if err != nil {
		f.Fatal(err)
	}
	maps = append(maps, custom)
	f.Fuzz(func(t *testing.T, seg string, payload []byte) {
		topic := "site/gw/" + seg
		for _, m := range maps {
			out, _ := m.Apply(topic, seg, payload, map[string]string{"device": "d"}, now)
			for _, s := range out {
				if _, err := s.AppendLine(nil); err != nil {
					t.Fatalf("topic %q payload %q: sample the buffer would refuse: %v (%+v)", topic, payload, err, s)
				}
				for k, v := range s.Fields {
					if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
						t.Fatalf("field %s = %v", k, x)
					}
				}
			}
		}
	})
}
