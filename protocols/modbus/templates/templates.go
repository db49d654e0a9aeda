// Package templates holds declarative register maps for devices without
// SunSpec (vendor meters), loaded from YAML and validated before use.
//
// Built-in templates are embedded from *.yaml in this directory; an installer
// can also point a device at a YAML file on disk (see docs/modbus.md).
package templates

import (
	"bytes"
	"embed"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var builtin embed.FS

// Template is a device's register map.
type Template struct {
	Name        string  `yaml:"name"`
	Description string  `yaml:"description"`
	Kind        string  `yaml:"kind"`          // meter | inverter
	WordOrder   string  `yaml:"word_order"`    // default for 32-bit types: high_first | low_first
	MaxGap      int     `yaml:"max_gap"`       // unused registers a single read may span
	MaxRegs     int     `yaml:"max_registers"` // device limit per request (0 = bus setting)
	Points      []Point `yaml:"points"`
}

// Point maps registers to one sample field.
type Point struct {
	Field     string   `yaml:"field"`
	Register  uint16   `yaml:"register"`
	Function  int      `yaml:"function"` // 3 holding, 4 input
	Type      string   `yaml:"type"`     // u16 s16 u32 s32 float32
	WordOrder string   `yaml:"word_order"`
	Scale     float64  `yaml:"scale"` // engineering value = raw * scale
	Unit      string   `yaml:"unit"`
	Min       *float64 `yaml:"min"` // plausibility bounds: outside = garbled
	Max       *float64 `yaml:"max"`
}

// Size is the point's length in registers.
func (p Point) Size() int {
	if p.Type == "u16" || p.Type == "s16" {
		return 1
	}
	return 2
}

var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Names lists the built-in templates.
func Names() []string {
	entries, _ := builtin.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Load returns a built-in template by name, or reads a YAML file when name is a
// path (contains a slash or ends in .yaml).
func Load(name string) (*Template, error) {
	var raw []byte
	var err error
	if strings.Contains(name, "/") || strings.HasSuffix(name, ".yaml") {
		raw, err = os.ReadFile(name)
	} else {
		raw, err = builtin.ReadFile(name + ".yaml")
		if err != nil {
			return nil, fmt.Errorf("unknown template %q (built in: %s)", name, strings.Join(Names(), ", "))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return Parse(raw)
}

// Parse decodes and validates a template.
func Parse(raw []byte) (*Template, error) {
	var t Template
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Validate checks the map and fills defaults.
func (t *Template) Validate() error {
	if t.Name == "" {
		return fmt.Errorf("template: name: required")
	}
	pre := "template " + t.Name
	if t.Kind != "meter" && t.Kind != "inverter" {
		return fmt.Errorf("%s: kind: want meter or inverter, got %q", pre, t.Kind)
	}
	if t.WordOrder == "" {
		t.WordOrder = "high_first"
	}
	if t.WordOrder != "high_first" && t.WordOrder != "low_first" {
		return fmt.Errorf("%s: word_order: want high_first or low_first, got %q", pre, t.WordOrder)
	}
	if t.MaxGap < 0 || t.MaxGap > 125 || t.MaxRegs < 0 || t.MaxRegs > 125 {
		return fmt.Errorf("%s: max_gap and max_registers must be 0-125", pre)
	}
	if len(t.Points) == 0 {
		return fmt.Errorf("%s: points: empty", pre)
	}
	seen := map[string]bool{}
	for i := range t.Points {
		p := &t.Points[i]
		key := fmt.Sprintf("%s: points[%d]", pre, i)
		if !fieldName.MatchString(p.Field) {
			return fmt.Errorf("%s.field: %q must be lower_snake_case", key, p.Field)
		}
		if seen[p.Field] {
			return fmt.Errorf("%s.field: duplicate %q", key, p.Field)
		}
		seen[p.Field] = true
		if p.Function != 3 && p.Function != 4 {
			return fmt.Errorf("%s.function: want 3 (holding) or 4 (input), got %d", key, p.Function)
		}
		switch p.Type {
		case "u16", "s16", "u32", "s32", "float32":
		default:
			return fmt.Errorf("%s.type: want u16, s16, u32, s32 or float32, got %q", key, p.Type)
		}
		if p.WordOrder == "" {
			p.WordOrder = t.WordOrder
		}
		if p.WordOrder != "high_first" && p.WordOrder != "low_first" {
			return fmt.Errorf("%s.word_order: want high_first or low_first", key)
		}
		if int(p.Register)+p.Size() > 0x10000 {
			return fmt.Errorf("%s.register: %d runs past 65535", key, p.Register)
		}
		if p.Scale == 0 {
			p.Scale = 1
		}
		if p.Unit == "" {
			return fmt.Errorf("%s.unit: required (use \"1\" for dimensionless)", key)
		}
	}
	return nil
}

// Decode reads point p from registers regs, which start at register start.
// ok is false for NaN or values outside the point's bounds.
func (p Point) Decode(start uint16, regs []uint16) (v float64, ok bool) {
	i := int(p.Register) - int(start)
	if i < 0 || i+p.Size() > len(regs) {
		return 0, false
	}
	r := regs[i : i+p.Size()]
	var u uint32
	if len(r) == 2 {
		if p.WordOrder == "low_first" {
			u = uint32(r[1])<<16 | uint32(r[0])
		} else {
			u = uint32(r[0])<<16 | uint32(r[1])
		}
	}
	switch p.Type {
	case "u16":
		v = float64(r[0])
	case "s16":
		v = float64(int16(r[0]))
	case "u32":
		v = float64(u)
	case "s32":
		v = float64(int32(u))
	case "float32":
		v = float64(math.Float32frombits(u))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, false
		}
	}
	v *= p.Scale
	if (p.Min != nil && v < *p.Min) || (p.Max != nil && v > *p.Max) {
		return v, false
	}
	return v, true
}

// Encode is the inverse of Decode, for simulators and tests.
func (p Point) Encode(v float64) []uint16 {
	raw := v / p.Scale
	var u uint32
	switch p.Type {
	case "u16":
		return []uint16{uint16(math.Round(raw))}
	case "s16":
		return []uint16{uint16(int16(math.Round(raw)))}
	case "u32":
		u = uint32(math.Round(raw))
	case "s32":
		u = uint32(int32(math.Round(raw)))
	case "float32":
		u = math.Float32bits(float32(raw))
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	hi, lo := binary.BigEndian.Uint16(b[:2]), binary.BigEndian.Uint16(b[2:])
	if p.WordOrder == "low_first" {
		return []uint16{lo, hi}
	}
	return []uint16{hi, lo}
}
