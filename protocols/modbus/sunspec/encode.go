package sunspec

import (
	"fmt"
	"math"
)

// Image is the register image of one model instance, for simulators and tests:
// every point starts at its "not implemented" sentinel and is set by name.
type Image struct {
	Model   *Model
	Regs    []uint16 // ID, L, data
	repeats int
}

// NewImage returns an image of m with n repeating-group instances.
func NewImage(m *Model, n int) *Image {
	l := m.FixedLen() - 2

	for i := range m.Groups {
		if m.Groups[i].Repeat {

			l += n * m.Groups[i].Size
		} else {
			l += m.Groups[i].Size
		}
	}
	img := &Image{Model: m, Regs: make([]uint16, 2+l), repeats: n}
	fill := func(points []Point, base int) {
		for _, p := range points {
			copy(img.Regs[base+p.Offset:], Sentinel(p.Type, p.Size))
		}
	}
	fill(m.Fixed, 0)
	off := m.FixedLen()
	for _, g := range m.Groups {
		count := 1
		if g.Repeat {
			count = n
		}
		for i := 0; i < count; i++ {
			fill(g.Points, off)
			off += g.Size
		}
	}
	img.Regs[0], img.Regs[1] = uint16(m.ID), uint16(l)

	return img
}

// Sentinel returns the "not implemented" encoding of a type.
func Sentinel(typ string, size int) []uint16 {
	out := make([]uint16, size)
	switch typ {
	case "int16", "sunssf":
		out[0] = 0x8000
	case "uint16", "enum16", "bitfield16", "count":
		out[0] = 0xFFFF
	case "int32", "int64":
		out[0] = 0x8000
	case "uint32", "enum32", "bitfield32":
		out[0], out[1] = 0xFFFF, 0xFFFF
	case "float32":
		out[0], out[1] = 0x7FC0, 0
	}
	return out
}

// locate finds a point; rep < 0 means the fixed part.
func (img *Image) locate(name string, rep int) (Point, int, error) {
	if rep < 0 {
		p, ok := img.Model.Point(name)
		if !ok {
			return Point{}, 0, fmt.Errorf("model %d has no point %s", img.Model.ID, name)
		}
		return p, p.Offset, nil
	}
	off := img.Model.FixedLen()
	for _, g := range img.Model.Groups {
		if !g.Repeat {
			off += g.Size
			continue
		}
		if rep >= img.repeats {
			return Point{}, 0, fmt.Errorf("model %d: repeat %d of %d", img.Model.ID, rep, img.repeats)
		}
		for _, p := range g.Points {
			if p.Name == name {
				return p, off + rep*g.Size + p.Offset, nil
			}
		}
	}
	return Point{}, 0, fmt.Errorf("model %d has no repeating point %s", img.Model.ID, name)
}

// SetRaw stores an unscaled value (enum, bit field, scale factor, raw count).
func (img *Image) SetRaw(name string, rep int, v float64) error {
	p, off, err := img.locate(name, rep)
	if err != nil {
		return err
	}
	copy(img.Regs[off:], EncodeRaw(p.Type, p.Size, v))
	return nil
}

// SetWords stores registers as they are (to inject sentinels or garbage).
func (img *Image) SetWords(name string, rep int, w ...uint16) error {
	_, off, err := img.locate(name, rep)
	if err != nil {
		return err
	}
	copy(img.Regs[off:], w)
	return nil
}

// Set stores an engineering value, dividing by the point's scale factor as it
// currently stands in the image (set scale factors first).
func (img *Image) Set(name string, rep int, v float64) error {
	p, _, err := img.locate(name, rep)
	if err != nil {
		return err
	}
	if p.SF != "" {
		sfp, ok := img.Model.Point(p.SF)
		if !ok {
			return fmt.Errorf("model %d: scale factor %s not in fixed part", img.Model.ID, p.SF)
		}
		sf := int16(img.Regs[sfp.Offset])
		if img.Regs[sfp.Offset] == 0x8000 {
			return fmt.Errorf("model %d: %s unset", img.Model.ID, p.SF)
		}
		v = math.Round(v / math.Pow10(int(sf)))
	}
	return img.SetRaw(name, rep, v)
}

// SetString stores text, zero padded.
func (img *Image) SetString(name string, s string) error {
	p, off, err := img.locate(name, -1)
	if err != nil {
		return err
	}
	b := make([]byte, 2*p.Size)
	copy(b, s)
	for i := 0; i < p.Size; i++ {
		img.Regs[off+i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return nil
}

// EncodeRaw encodes v as the registers of a type, clamping to its range so a
// simulator can never wrap into a sentinel by accident.
func EncodeRaw(typ string, size int, v float64) []uint16 {
	out := make([]uint16, size)
	switch typ {
	case "int16", "sunssf":
		out[0] = uint16(int16(clamp(v, -32767, 32767)))
	case "uint16", "enum16", "bitfield16", "count", "acc16":
		out[0] = uint16(clamp(v, 0, 65534))
	case "int32":
		u := uint32(int32(clamp(v, -2147483647, 2147483647)))
		out[0], out[1] = uint16(u>>16), uint16(u)
	case "uint32", "enum32", "bitfield32", "acc32":
		u := uint32(clamp(v, 0, 4294967294))
		if typ == "acc32" {
			u = uint32(uint64(math.Max(v, 0)) % (1 << 32)) // accumulators wrap
		}
		out[0], out[1] = uint16(u>>16), uint16(u)
	case "float32":
		u := math.Float32bits(float32(v))
		out[0], out[1] = uint16(u>>16), uint16(u)
	}
	return out
}

func clamp(v, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, math.Round(v)))
}

// Offset returns a point's register offset from the model's ID register
// (rep < 0: fixed part, else that repeating-group instance).
func (img *Image) Offset(name string, rep int) (int, error) {
	_, off, err := img.locate(name, rep)
	return off, err
}
