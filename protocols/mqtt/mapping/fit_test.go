package mapping

import (
	"testing"
)

func compileOne(t *testing.T, r Rule) *Mapping {
	t.Helper()
	m, err := Compile([]Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A topic segment mapped to a tag is device input: one that line protocol
// cannot carry must be refused here with a reason, not produce a sample the
// buffer refuses (which left the QoS 1 message unacknowledged forever).
func TestTagFromTopicRefusedWhenLineProtocolCannotCarryIt(t *testing.T) {
	m := compileOne(t, Rule{Match: "+", Measurement: "env", Tags: map[string]string{"room": "$2"},
		Fields: []Field{{Name: "temperature_c", Path: "t"}}})
	for _, seg := range []string{"hall\nx", `hall\`, "a\rb", "\x7f", string([]byte{0xff})} {
		out, rej := m.Apply("site/"+seg+"/th1", "th1", []byte(`{"t":21}`), nil, now)
		if len(out) != 0 || len(rej) != 1 || rej[0].Reason != ReasonInvalidTag {
			t.Errorf("segment %q: samples %v rejects %v, want one %s", seg, out, rej, ReasonInvalidTag)
		}
		for _, s := range out {
			if _, err := s.AppendLine(nil); err != nil {
				t.Errorf("segment %q gave an unencodable sample: %v", seg, err)
			}
		}
	}
	out, rej := m.Apply(`site/hall b,c=d/th1`, "th1", []byte(`{"t":21}`), nil, now)
	if len(out) != 1 || len(rej) != 0 || out[0].Tags["room"] != "hall b,c=d" {
		t.Fatalf("escapable segment: %v %v", out, rej)
	}
	if _, err := out[0].AppendLine(nil); err != nil {
		t.Fatal(err)
	}
}

// Numbers that do not fit the field type are refused with a reason instead
// of wrapping (1e20 became -9223372036854775808) or losing digits.
func TestNumbersThatDoNotFit(t *testing.T) {
	m := compileOne(t, Rule{Measurement: "m", Fields: []Field{
		{Name: "count", Path: "i", Type: "int"},
		{Name: "scaled", Path: "s", Type: "int", Scale: 10},
		{Name: "value", Path: "f"},
	}})
	tests := []struct {
		payload string
		field   string
		want    any // nil: refused with does_not_fit
	}{
		{`{"i":1e20}`, "count", nil},
		{`{"i":-1e19}`, "count", nil},
		{`{"i":9007199254740993}`, "count", int64(9007199254740993)},
		{`{"i":"9007199254740993"}`, "count", int64(9007199254740993)},
		{`{"i":99999999999999999999}`, "count", nil},
		{`{"i":41.6}`, "count", int64(42)},
		{`{"s":1e18}`, "scaled", nil},
		{`{"s":4}`, "scaled", int64(40)},
		{`{"f":9007199254740993}`, "value", nil},
		{`{"f":9007199254740992}`, "value", 9007199254740992.0},
		{`{"f":1e999}`, "value", nil},
		{`{"f":12.5}`, "value", 12.5},
	}
	for _, tc := range tests {
		out, rej := m.Apply("t", "", []byte(tc.payload), nil, now)
		if tc.want == nil {
			if len(out) != 0 || len(rej) != 1 || rej[0].Reason != ReasonDoesNotFit {
				t.Errorf("%s: samples %v rejects %v, want one %s", tc.payload, out, rej, ReasonDoesNotFit)
			}
			continue
		}
		if len(out) != 1 || out[0].Fields[tc.field] != tc.want {
			t.Errorf("%s: samples %v rejects %v, want %s=%v (%T)", tc.payload, out, rej, tc.field, tc.want, tc.want)
		}
	}
}

// Scaling can overflow to infinity; that never reaches the buffer.
func TestScaledOverflowIsNotFinite(t *testing.T) {
	m := compileOne(t, Rule{Measurement: "m", Fields: []Field{{Name: "v", Path: "v", Scale: 1e300}}})
	out, rej := m.Apply("t", "", []byte(`{"v":1e300}`), nil, now)
	if len(out) != 0 || len(rej) != 1 || rej[0].Reason != ReasonNotFinite {
		t.Fatalf("samples %v rejects %v, want %s", out, rej, ReasonNotFinite)
	}
}
