package sunspec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrLength means a model's length register does not match its definition:
// the map is wrong or the device is answering garbage.
var ErrLength = errors.New("model length does not match definition")

// ErrGarbled means a value cannot be real (e.g. a scale factor outside -10..10).
var ErrGarbled = errors.New("garbled value")

// Values holds decoded points: numbers with scale factors applied (enums and
// bit fields raw), and strings. A point that is "not implemented" is absent.
type Values struct {
	Num  map[string]float64
	Text map[string]string
}

// Block is one decoded model instance.
type Block struct {
	Model   int
	Values           // fixed part
	Repeats []Values // repeating group instances (e.g. MPPT modules of model 160)
}

// RepeatCount returns how many repeating-group instances a model of length l
// (the L register) holds, or an error when l cannot be right.
func (m *Model) RepeatCount(l int) (int, error) {
	fixed := m.FixedLen() - 2
	var rep *Group
	extra := 0
	for i := range m.Groups {
		if m.Groups[i].Repeat {
			rep = &m.Groups[i]
		} else {
			extra += m.Groups[i].Size
		}
	}
	base := fixed + extra
	if rep == nil {
		// Some devices omit a trailing pad register; accept that one case.
		if l == base || (l == base-1 && len(m.Groups) == 0 && m.Fixed[len(m.Fixed)-1].Type == "pad") {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: model %d length %d, want %d", ErrLength, m.ID, l, base)
	}
	if l < base || (l-base)%rep.Size != 0 {
		return 0, fmt.Errorf("%w: model %d length %d is not %d + n*%d", ErrLength, m.ID, l, base, rep.Size)
	}
	return (l - base) / rep.Size, nil
}

// Decode decodes one model instance. regs starts at the model's ID register
// and must hold 2+L registers.
func Decode(m *Model, regs []uint16) (*Block, error) {
	if len(regs) < 2 {
		return nil, fmt.Errorf("model %d: %w: %d registers", m.ID, ErrLength, len(regs))
	}
	if int(regs[0]) != m.ID {
		return nil, fmt.Errorf("model %d: found id %d at its address: map changed", m.ID, regs[0])
	}
	l := int(regs[1])
	n, err := m.RepeatCount(l)
	if err != nil {
		return nil, err
	}
	if len(regs) < 2+l {
		return nil, fmt.Errorf("model %d: %w: have %d registers, need %d", m.ID, ErrLength, len(regs), 2+l)
	}
	regs = regs[:2+l]
	b := &Block{Model: m.ID}
	fixedRaw := decodeRaw(m.Fixed, regs)
	if b.Values, err = scale(m.Fixed, fixedRaw, nil); err != nil {
		return nil, fmt.Errorf("model %d: %w", m.ID, err)
	}
	off := m.FixedLen()
	for _, g := range m.Groups {
		count := 1
		if g.Repeat {
			count = n
		}
		for i := 0; i < count; i++ {
			if off+g.Size > len(regs) {
				return nil, fmt.Errorf("model %d group %s: %w", m.ID, g.Name, ErrLength)
			}
			raw := decodeRaw(g.Points, regs[off:off+g.Size])
			v, err := scale(g.Points, raw, &fixedRaw)
			if err != nil {
				return nil, fmt.Errorf("model %d group %s[%d]: %w", m.ID, g.Name, i, err)
			}
			if g.Repeat {
				b.Repeats = append(b.Repeats, v)
			} else {
				for k, x := range v.Num {
					b.Num[g.Name+"."+k] = x
				}
			}
			off += g.Size
		}
	}
	return b, nil
}

type rawValues struct {
	num  map[string]float64
	text map[string]string
}

func decodeRaw(points []Point, regs []uint16) rawValues {
	rv := rawValues{num: map[string]float64{}, text: map[string]string{}}
	for _, p := range points {
		if p.Offset+p.Size > len(regs) {
			break
		}
		r := regs[p.Offset : p.Offset+p.Size]
		if p.Type == "string" {
			if s := decodeString(r); s != "" {
				rv.text[p.Name] = s
			}
			continue
		}
		if v, ok := Raw(p.Type, r); ok {
			rv.num[p.Name] = v
		}
	}
	return rv
}

// Raw decodes one register-backed value of a SunSpec type without scaling. ok
// is false for the type's "not implemented" sentinel and unknown types.
func Raw(typ string, r []uint16) (v float64, ok bool) {
	switch typ {
	case "int16", "sunssf":
		if r[0] == 0x8000 {
			return 0, false
		}
		return float64(int16(r[0])), true
	case "uint16", "enum16", "bitfield16", "count":
		if r[0] == 0xFFFF {
			return 0, false
		}
		return float64(r[0]), true
	case "acc16":
		return float64(r[0]), r[0] != 0 // SunSpec: 0 = not accumulated
	}
	if len(r) < 2 {
		return 0, false
	}
	u := uint32(r[0])<<16 | uint32(r[1])
	switch typ {
	case "int32":
		if u == 0x80000000 {
			return 0, false
		}
		return float64(int32(u)), true
	case "uint32", "enum32", "bitfield32":
		if u == 0xFFFFFFFF {
			return 0, false
		}
		return float64(u), true
	case "acc32":
		return float64(u), u != 0
	case "float32":
		f := math.Float32frombits(u)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return 0, false
		}
		return float64(f), true
	}
	if len(r) < 4 {
		return 0, false
	}
	u64 := uint64(u)<<32 | uint64(r[2])<<16 | uint64(r[3])
	switch typ {
	case "int64":
		if u64 == 0x8000000000000000 {
			return 0, false
		}
		return float64(int64(u64)), true
	case "acc64":
		return float64(u64), u64 != 0
	}
	return 0, false
}

func decodeString(r []uint16) string {
	b := make([]byte, 0, 2*len(r))
	for _, w := range r {
		b = append(b, byte(w>>8), byte(w))
	}
	return strings.TrimRight(string(b), "\x00 ")
}

// scale applies scale factors. SF points are looked up in the point's own
// group first, then in the model's fixed part (model 160 keeps them there).
func scale(points []Point, raw rawValues, outer *rawValues) (Values, error) {
	v := Values{Num: make(map[string]float64, len(raw.num)), Text: raw.text}
	for _, p := range points {
		x, ok := raw.num[p.Name]
		if !ok {
			continue
		}
		if p.Type == "sunssf" { // kept raw: accumulators need it to size their wrap
			v.Num[p.Name] = x
			continue
		}
		if p.SF != "" {
			sf, ok, err := lookupSF(p.SF, raw, outer)
			if err != nil {
				return v, fmt.Errorf("%s: %w", p.Name, err)
			}
			if !ok {
				continue // value without a usable scale is not a value
			}
			x *= math.Pow10(sf)
		}
		v.Num[p.Name] = x
	}
	return v, nil
}

func lookupSF(name string, raw rawValues, outer *rawValues) (int, bool, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, true, nil
	}
	sf, ok := raw.num[name]
	if !ok && outer != nil {
		sf, ok = outer.num[name]
	}
	if !ok {
		return 0, false, nil
	}
	if sf < -10 || sf > 10 {
		return 0, false, fmt.Errorf("%w: scale factor %s=%v outside -10..10", ErrGarbled, name, sf)
	}
	return int(sf), true, nil
}
