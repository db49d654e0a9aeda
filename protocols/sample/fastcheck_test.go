package sample

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPlainPathAgreesWithDecoder mutates edge-shaped lines a million ways:
// whatever the plain path accepts, the decoder must accept with the same
// LineInfo and the same tag keys reported. (What it declines goes to the
// decoder anyway; FuzzLine checks Check as a whole against ParseLine.)
func TestPlainPathAgreesWithDecoder(t *testing.T) {
	seeds := []string{
		`pv,device=inv1,office=12345 ac_power_w=1200.5,state="mppt" 1780315200000000000`,
		`env,device=th1 temperature_c=-21.5e-3,ok=true,n=3i,u=7u 1780315200000000000`,
		`grid,device=meter,office=1,phase=L1 p=1.,q=.5,r=-0,s=1E+3 1780315200000000000`,
		`locker,device=bank1 power="mains_lost",doors=12i,temp=F 1780315200000000000`,
		`m f=1 946684800000000000`,
		`m,a=b,office=x,office=y s="àè",t=TRUE 4102444799999999999`,
	}
	alphabet := []byte(",= \"\\\t\r#-+.0123456789eEiuxtTfFaN\xff\xc3\xa0_")
	rng := rand.New(rand.NewPCG(3, 4))
	taken := 0
	const rounds = 300_000
	for n := range rounds {
		raw := []byte(seeds[n%len(seeds)])
		for range 1 + rng.IntN(3) {
			p := rng.IntN(len(raw) + 1)
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				if p < len(raw) {
					raw[p] = c
				}
			case 1:
				raw = append(raw[:p], append([]byte{c}, raw[p:]...)...)
			case 2:
				if p < len(raw) {
					raw = append(raw[:p], raw[p+1:]...)
				}
			}
		}
		var fastKeys, slowKeys []string
		info, ok := checkPlain(raw, func(k []byte) { fastKeys = append(fastKeys, string(k)) })
		if !ok {
			if fastKeys != nil {
				t.Fatalf("%q: the plain path declined but reported tag keys %q", raw, fastKeys)
			}
			continue
		}
		taken++
		want, err := checkDecoded(raw, func(k []byte) { slowKeys = append(slowKeys, string(k)) })
		if err != nil {
			t.Fatalf("%q: the plain path accepted what the decoder refuses: %v", raw, err)
		}
		if info != want || strings.Join(fastKeys, ",") != strings.Join(slowKeys, ",") {
			t.Fatalf("%q: plain path %+v keys %q, decoder %+v keys %q", raw, info, fastKeys, want, slowKeys)
		}
	}
	// Mutations mostly break a line: a fifth or more must still be plain,
	// or this test checks nothing.
	if taken < rounds/5 {
		t.Fatalf("only %d of %d mutated lines took the plain path", taken, rounds)
	}
	t.Logf("%d of %d mutated lines took the plain path and agreed", taken, rounds)
}

// TestEncodedLinesTakeThePlainPath: what the edge's encoder writes for
// ordinary samples (no escapes needed) never falls back to the decoder,
// or the fleet pays the slow path on every line without a test noticing.
func TestEncodedLinesTakeThePlainPath(t *testing.T) {
	at := time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC)
	for _, s := range []Sample{
		{Measurement: "pv", Tags: map[string]string{TagDevice: "inv1", TagOffice: "12345"}, Fields: map[string]any{"ac_power_w": 1200.5, "state": "mppt", "energy_wh": int64(98765432), "ok": true}, Time: at},
		{Measurement: "env", Tags: map[string]string{TagDevice: "sala-co2"}, Fields: map[string]any{"co2_ppm": 1234.0, "temperature_c": -3.25, "tiny": 1e-9, "huge": 3.2e21}, Time: at},
		{Measurement: "ocpp", Tags: map[string]string{TagDevice: "CP-01", "connector": "1"}, Fields: map[string]any{"status": "Charging", "current_a": 15.999}, Time: at},
	} {
		line, err := s.AppendLine(nil)
		if err != nil {
			t.Fatal(err)
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if _, ok := checkPlain(line, nil); !ok {
			t.Errorf("%q fell back to the decoder", line)
		}
	}
}

// TestSimpleDecimalIsAFiniteFloat: every value the shortcut lets through
// without parsing, strconv reads as a finite float, up to the length bound.
func TestSimpleDecimalIsAFiniteFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := "-.0123456789e+"
	taken := 0
	for range 200_000 {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		v := string(b)
		if !simpleDecimal(v) {
			continue
		}
		taken++
		if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			t.Fatalf("simpleDecimal(%q) but ParseFloat gives %v, %v", v, f, err)
		}
	}
	if taken < 1000 {
		t.Fatalf("only %d random values were simple decimals: the test checks nothing", taken)
	}
	longest := "-" + strings.Repeat("9", 299) // 300 bytes: ~1e299, finite
	if !simpleDecimal(longest) || simpleDecimal(longest+"9") {
		t.Fatal("the 300-byte bound is not where it should be")
	}
	if f, err := strconv.ParseFloat(longest, 64); err != nil || math.IsInf(f, 0) {
		t.Fatalf("the longest simple decimal parses as %v, %v", f, err)
	}
	for _, v := range []string{"", "-", ".5", "5.", "1e5", "--1", "1.2.3", "+1", "0x10"} {
		if simpleDecimal(v) {
			t.Errorf("simpleDecimal(%q) = true", v)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	line := []byte(`e2e,device=gen,office=47011 ac_power_w=4321,id=123456i 1780315200000000000`)
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			Check(line, nil)
		}
	})
	// An inverter line as the offices send it: mostly decimal fields.
	inverter := []byte(`inverter,device=inv1,office=10001,province=PG,region=Umbria DCW=4551.872345123,Hz=50.0132,PhVphA=231.41,St=4i,TmpCab=37.9,W=4419.2935,WH=1000242i 1780315200000000000`)
	b.Run("plain inverter", func(b *testing.B) {
		for b.Loop() {
			Check(inverter, nil)
		}
	})
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			checkDecoded(line, nil)
		}
	})
}
