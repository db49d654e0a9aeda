package sample

import (
	"errors"
	"strings"
	"testing"
)

// Check must agree with ParseLine on every line: it is the fleet's fast path
// for the same rules.
func TestCheckAgreesWithParseLine(t *testing.T) {
	lines := []string{
		`pv,device=inv1,office=12345 ac_power_w=1200.5,state="mppt" 1780315200000000000`,
		`env,device=th\ hall,office=1,room=a\,b temperature_c=21.5 1780315200000000000`,
		`pv,office=1 n=3u 1780315200000000000`,
		`pv,office=1 n=18446744073709551615u 1780315200000000000`,
		`pv,office=1 w=1 100`,
		`pv,office=1 w=1 4102444800000000001`,
		`pv,office=1 w=1`,
		`pv,office=1 1780315200000000000`,
		`pv,office= w=1 1780315200000000000`,
		`pv,office=1 w=1 1780315200000000000 extra`,
		`pv w="\xff" 1780315200000000000`,
		`,office=1 w=1 1780315200000000000`,
		`pv w=1 1780315200000000000`,
		` pv,office=1 w=1 1780315200000000000`,
		"pv,office=1 w=1 1780315200000000000\r",
		`pv,office=1 w=1 1780315200000000000 `,
		"\tpv,office=1 w=1 1780315200000000000",
	}
	for _, l := range lines {
		_, perr := ParseLine([]byte(l))
		info, cerr := Check([]byte(l), nil)
		if (perr == nil) != (cerr == nil) {
			t.Errorf("%q: ParseLine says %v, Check says %v", l, perr, cerr)
		}
		if cerr != nil && !errors.Is(cerr, ErrInvalid) {
			t.Errorf("%q: error %v does not wrap ErrInvalid", l, cerr)
		}
		if cerr == nil && l[info.KeyEnd] != ' ' {
			t.Errorf("%q: KeyEnd %d is not the key's end", l, info.KeyEnd)
		}
	}
}

func TestCheckReportsOfficeTagsAndUint(t *testing.T) {
	var keys []string
	info, err := Check([]byte(`pv,device=inv\ 1,office=47011 n=3u 1780315200000000000`), func(k []byte) { keys = append(keys, string(k)) })
	if err != nil {
		t.Fatal(err)
	}
	if info.Measurement != "pv" || info.Office != "47011" || !info.HasUint || strings.Join(keys, ",") != "device,office" {
		t.Fatalf("got %+v, keys %v", info, keys)
	}
}

func TestSplicedTagsParse(t *testing.T) {
	raw := []byte(`pv,office=1 w=1 1780315200000000000`)
	info, _ := Check(raw, nil)
	out := append([]byte{}, raw[:info.KeyEnd]...)
	out = AppendTag(out, "comune", "Rocca di Papa")
	out = AppendTag(out, "region", "Friuli-Venezia Giulia, a=b")
	out = append(out, raw[info.KeyEnd:]...)
	s, err := ParseLine(out)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if s.Tags["comune"] != "Rocca di Papa" || s.Tags["region"] != "Friuli-Venezia Giulia, a=b" || s.Tags["office"] != "1" {
		t.Fatalf("tags after splicing: %v", s.Tags)
	}
}

// The fleet splices its tags in at the first space: a line with a leading
// space would get them in front of its measurement, and InfluxDB 1.8 drops a
// line ending in '\r'. Both must be refused, not counted as accepted.
func TestCheckRejectsSurroundingWhitespace(t *testing.T) {
	for _, l := range []string{
		` pv,office=1 w=1 1780315200000000000`,
		"pv,office=1 w=1 1780315200000000000\r",
		`pv,office=1 w=1 1780315200000000000 `,
	} {
		if _, err := Check([]byte(l), nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: Check accepted it (%v)", l, err)
		}
		if _, err := ParseLine([]byte(l)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: ParseLine accepted it (%v)", l, err)
		}
	}
	if _, err := ParseLine([]byte("pv,office=1 w=1 1780315200000000000\n")); err != nil {
		t.Errorf("ParseLine refused a line as AppendLine writes it: %v", err)
	}
}
