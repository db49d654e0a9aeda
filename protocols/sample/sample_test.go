package sample

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestLineRoundTrip(t *testing.T) {
	in := Sample{
		Measurement: "pv",
		Tags:        map[string]string{"office": "12345", "device": "inv 1,a=b"},
		Fields:      map[string]any{"ac_power_w": 1234.5, "state": "MPPT", "ok": true, "energy_wh": int64(99)},
		Time:        t0,
	}
	line, err := in.AppendLine(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(line), "\n") {
		t.Fatalf("no trailing newline: %q", line)
	}
	out, err := Parse(line)
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	if len(out) != 1 || out[0].Tags["device"] != "inv 1,a=b" || out[0].Fields["ac_power_w"] != 1234.5 ||
		out[0].Fields["energy_wh"] != int64(99) || out[0].Fields["state"] != "MPPT" || !out[0].Time.Equal(t0) {
		t.Fatalf("round trip changed the sample: %+v", out)
	}
}

func TestValidateRejects(t *testing.T) {
	ok := func() Sample {
		return Sample{Measurement: "env", Fields: map[string]any{"t": 1.0}, Time: t0}
	}
	cases := map[string]func(*Sample){
		"no measurement": func(s *Sample) { s.Measurement = "" },
		"no fields":      func(s *Sample) { s.Fields = nil },
		"NaN":            func(s *Sample) { s.Fields["t"] = math.NaN() },
		"Inf":            func(s *Sample) { s.Fields["t"] = math.Inf(1) },
		"zero time":      func(s *Sample) { s.Time = time.Time{} },
		"far future":     func(s *Sample) { s.Time = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) },
		"empty tag":      func(s *Sample) { s.Tags = map[string]string{"device": ""} },
		"bad type":       func(s *Sample) { s.Fields["t"] = []int{1} },
		"huge uint":      func(s *Sample) { s.Fields["t"] = uint64(math.MaxUint64) },
		"invalid utf8":   func(s *Sample) { s.Fields["t"] = "\xff" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := ok()
			mutate(&s)
			if _, err := s.AppendLine(nil); !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
}

func TestParseRejectsGarbageWithLineNumber(t *testing.T) {
	_, err := Parse([]byte("pv,office=1 w=1 1780000000000000000\npv w=\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want line 2 error, got %v", err)
	}
	if _, err := ParseLine([]byte("pv w=1")); err == nil {
		t.Fatal("a line without timestamp was accepted")
	}
}
