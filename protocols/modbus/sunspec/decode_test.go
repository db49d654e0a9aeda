package sunspec

import (
	"errors"
	"math"
	"testing"
)

func TestRawSentinels(t *testing.T) {
	nan := math.Float32bits(float32(math.NaN()))
	cases := []struct {
		typ  string
		regs []uint16
		want float64
		ok   bool
	}{
		{"int16", []uint16{0x8000}, 0, false},
		{"int16", []uint16{0xFFFF}, -1, true},
		{"uint16", []uint16{0xFFFF}, 0, false},
		{"uint16", []uint16{0x8000}, 32768, true},
		{"enum16", []uint16{0xFFFF}, 0, false},
		{"bitfield16", []uint16{0xFFFF}, 0, false},
		{"sunssf", []uint16{0x8000}, 0, false},
		{"sunssf", []uint16{0xFFFE}, -2, true},
		{"acc16", []uint16{0}, 0, false},
		{"int32", []uint16{0x8000, 0}, 0, false},
		{"int32", []uint16{0xFFFF, 0xFFFE}, -2, true},
		{"uint32", []uint16{0xFFFF, 0xFFFF}, 0, false},
		{"uint32", []uint16{0x0001, 0x0000}, 65536, true},
		{"bitfield32", []uint16{0xFFFF, 0xFFFF}, 0, false},
		{"enum32", []uint16{0xFFFF, 0xFFFF}, 0, false},
		{"acc32", []uint16{0, 0}, 0, false},
		{"acc32", []uint16{0xFFFF, 0xFFFF}, 4294967295, true}, // a full counter, about to wrap
		{"float32", []uint16{uint16(nan >> 16), uint16(nan)}, 0, false},
		{"float32", []uint16{0x4348, 0x0000}, 200, true},
		{"int64", []uint16{0x8000, 0, 0, 0}, 0, false},
		{"acc64", []uint16{0, 0, 0, 5}, 5, true},
	}
	for _, c := range cases {
		got, ok := Raw(c.typ, c.regs)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s %04x: got %v,%v want %v,%v", c.typ, c.regs, got, ok, c.want, c.ok)
		}
	}
}

func TestDecodeFloatModelNaNIsAbsent(t *testing.T) {
	m, _ := Lookup(113)
	img := NewImage(m, 0)
	if err := img.Set("W", -1, 1500.5); err != nil {
		t.Fatal(err)
	}
	b, err := Decode(m, img.Regs)
	if err != nil {
		t.Fatal(err)
	}
	if b.Num["W"] != 1500.5 {
		t.Errorf("W = %v", b.Num["W"])
	}
	if _, ok := b.Num["Hz"]; ok {
		t.Error("NaN Hz decoded as a value")
	}
}

func TestDecodeRepeatingGroupsAndScale(t *testing.T) {
	m, _ := Lookup(160)
	img := NewImage(m, 3)
	for name, sf := range map[string]float64{"DCA_SF": -2, "DCV_SF": -1, "DCW_SF": 1} {
		if err := img.SetRaw(name, -1, sf); err != nil {
			t.Fatal(err)
		}
	}
	if err := img.SetRaw("N", -1, 3); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_ = img.Set("DCV", i, 600+float64(i))
		_ = img.Set("DCA", i, 8.25)
		_ = img.Set("DCW", i, 4950)
	}
	b, err := Decode(m, img.Regs)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Repeats) != 3 || b.Repeats[2].Num["DCV"] != 602 || b.Repeats[0].Num["DCA"] != 8.25 || b.Repeats[1].Num["DCW"] != 4950 {
		t.Fatalf("modules %+v", b.Repeats)
	}
	if _, ok := b.Repeats[0].Num["DCWH"]; ok {
		t.Error("DCWH with its scale factor unimplemented must be absent")
	}
}

func TestLengthChecks(t *testing.T) {
	m, _ := Lookup(103)
	img := NewImage(m, 0)
	img.Regs[1] = 49
	if _, err := Decode(m, img.Regs); !errors.Is(err, ErrLength) {
		t.Errorf("length 49 for model 103: %v", err)
	}
	img.Regs[1] = 50
	img.Regs[0] = 101
	if _, err := Decode(m, img.Regs); err == nil {
		t.Error("wrong model id accepted")
	}
	m160, _ := Lookup(160)
	if n, err := m160.RepeatCount(8 + 2*20); err != nil || n != 2 {
		t.Errorf("160 with two modules: %d %v", n, err)
	}
	if _, err := m160.RepeatCount(8 + 21); err == nil {
		t.Error("160 with a partial module accepted")
	}
}

func TestScaleFactorOutOfRangeIsGarbled(t *testing.T) {
	m, _ := Lookup(103)
	img := NewImage(m, 0)
	_ = img.SetRaw("W_SF", -1, 0)
	_ = img.SetRaw("W", -1, 100)
	_ = img.SetRaw("W_SF", -1, 20)
	if _, err := Decode(m, img.Regs); !errors.Is(err, ErrGarbled) {
		t.Errorf("W_SF=20: %v", err)
	}
}
