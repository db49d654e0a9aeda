package templates

import (
	"math"
	"strings"
	"testing"
)

func TestBuiltinsLoad(t *testing.T) {
	for _, name := range []string{"sdm630", "em24"} {
		tpl, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tpl.Kind != "meter" || len(tpl.Points) < 10 {
			t.Fatalf("%s: kind %s, %d points", name, tpl.Kind, len(tpl.Points))
		}
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	base := "name: x\nkind: meter\npoints:\n"
	cases := map[string]string{
		"bad function": base + "  - {field: a_w, register: 0, function: 6, type: u16, unit: W}\n",
		"bad type":     base + "  - {field: a_w, register: 0, function: 3, type: u8, unit: W}\n",
		"bad field":    base + "  - {field: A W, register: 0, function: 3, type: u16, unit: W}\n",
		"duplicate":    base + "  - {field: a_w, register: 0, function: 3, type: u16, unit: W}\n  - {field: a_w, register: 1, function: 3, type: u16, unit: W}\n",
		"no unit":      base + "  - {field: a_w, register: 0, function: 3, type: u16}\n",
		"unknown key":  base + "  - {field: a_w, register: 0, function: 3, type: u16, unit: W, bogus: 1}\n",
		"past end":     base + "  - {field: a_w, register: 65535, function: 3, type: u32, unit: W}\n",
		"kind":         "name: x\nkind: fridge\npoints:\n  - {field: a_w, register: 0, function: 3, type: u16, unit: W}\n",
	}
	want := map[string]string{"bad function": "function", "bad type": "type", "bad field": "field", "duplicate": "duplicate",
		"no unit": "unit", "unknown key": "bogus", "past end": "register", "kind": "kind"}
	for name, doc := range cases {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: got %v, want error naming %q", name, err, want[name])
		}
	}
}

func TestPointRoundTrip(t *testing.T) {
	min0 := 0.0
	cases := []struct {
		p    Point
		v    float64
		want bool
	}{
		{Point{Type: "float32", WordOrder: "high_first", Scale: 1}, 231.5, true},
		{Point{Type: "float32", WordOrder: "low_first", Scale: 1000}, 12345000, true},
		{Point{Type: "s32", WordOrder: "low_first", Scale: 0.1}, -4321.7, true},
		{Point{Type: "u32", WordOrder: "high_first", Scale: 1}, 70000, true},
		{Point{Type: "s16", Scale: 0.1}, -12.3, true},
		{Point{Type: "u16", Scale: 0.1}, 50.1, true},
		{Point{Type: "s32", WordOrder: "high_first", Scale: 1, Min: &min0}, -5, false},
	}
	for _, c := range cases {
		regs := c.p.Encode(c.v)
		got, ok := c.p.Decode(0, regs)
		if ok != c.want || (ok && math.Abs(got-c.v) > math.Abs(c.v)*1e-6+c.p.Scale/2) {
			t.Errorf("%+v: %v -> %v (ok %v)", c.p, c.v, got, ok)
		}
	}
	nan := Point{Type: "float32", WordOrder: "high_first", Scale: 1}
	if _, ok := nan.Decode(0, []uint16{0x7FC0, 0}); ok {
		t.Error("NaN decoded as a value")
	}
}

func TestWordOrderMatters(t *testing.T) {
	p := Point{Type: "s32", WordOrder: "low_first", Scale: 1}
	v, _ := p.Decode(0, []uint16{0x0001, 0x0002}) // low word 1, high word 2
	if v != 2<<16|1 {
		t.Fatalf("low_first decoded %v", v)
	}
}
