package sample

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzLine: Check (the fleet's fast path) and ParseLine must agree on every
// input, never panic, and a line they accept must survive an encode/parse
// round trip unchanged. Seeds: testdata/fuzz/FuzzLine and the lines below.
func FuzzLine(f *testing.F) {
	for _, s := range []string{
		`pv,device=inv1,office=12345 ac_power_w=1200.5,state="mppt" 1780315200000000000`,
		`env,device=th\ hall,room=a\,b temperature_c=21.5 1780315200000000000`,
		`pv,office=1 n=18446744073709551615u 1780315200000000000`,
		`events,device=cp1,kind=fault message="a\nb\"c\\",severity="warning" 1780315200000000000`,
		` pv w=1 1780315200000000000`,
		"pv w=1 1780315200000000000\r",
		`pv w=1i,b=t,s="" 1780315200000000000`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimSuffix(raw, []byte{'\n'}) // ParseLine allows one, Check never sees it
		info, cerr := Check(raw, nil)
		s, perr := ParseLine(raw)
		if (cerr == nil) != (perr == nil) {
			t.Fatalf("%q: Check says %v, ParseLine says %v", raw, cerr, perr)
		}
		if cerr != nil {
			if !errors.Is(cerr, ErrInvalid) || !errors.Is(perr, ErrInvalid) {
				t.Fatalf("%q: errors do not wrap ErrInvalid: %v / %v", raw, cerr, perr)
			}
			return
		}
		if info.Measurement != s.Measurement || info.Office != s.Tags[TagOffice] {
			t.Fatalf("%q: Check %+v disagrees with ParseLine %+v", raw, info, s)
		}
		if info.KeyEnd >= len(raw) || raw[info.KeyEnd] != ' ' {
			t.Fatalf("%q: KeyEnd %d is not the key's end", raw, info.KeyEnd)
		}
		line, err := s.AppendLine(nil)
		if err != nil {
			// Accepted input must be re-encodable; unsigned values above
			// MaxInt64 are the only values Check lets through and refuses
			// to encode, and Check refuses those too.
			t.Fatalf("%q parsed but does not encode: %v", raw, err)
		}
		back, err := ParseLine(line)
		if err != nil {
			t.Fatalf("%q re-encoded as %q which does not parse: %v", raw, line, err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(s)) {
			t.Fatalf("round trip changed %q:\n%+v\n%+v", raw, s, back)
		}
	})
}

// normalize maps unsigned fields to int64, as AppendLine encodes them.
func normalize(s Sample) Sample {
	for k, v := range s.Fields {
		if u, ok := v.(uint64); ok {
			s.Fields[k] = int64(u)
		}
	}
	s.Time = s.Time.UTC()
	return s
}
