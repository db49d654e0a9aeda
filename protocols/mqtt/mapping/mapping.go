// Package mapping turns sensor JSON payloads into samples, declaratively: a
// rule matches a topic, names a measurement and extracts fields by path,
// converting units and refusing values outside a plausible range.
package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/polis-edge/polis/protocols/sample"
)

// Reasons a payload or field is refused. They become counter names
// (rejected_<reason>) in device health and metrics.
const (
	ReasonInvalidJSON  = "invalid_json"
	ReasonWrongType    = "wrong_type"
	ReasonNotFinite    = "not_finite"
	ReasonOutOfRange   = "out_of_range"
	ReasonUnknownTopic = "unknown_topic"
	ReasonNoFields     = "no_fields"
	// ReasonDoesNotFit: a number the field type cannot hold exactly (1e20
	// for an int field, an integer above 2^53 for a float field).
	ReasonDoesNotFit = "does_not_fit"
	// ReasonInvalidTag: a tag taken from the topic that line protocol cannot
	// carry (a control character, a trailing backslash, invalid UTF-8).
	ReasonInvalidTag = "invalid_tag"
)

// maxExact is 2^53: above it a float64 no longer holds every integer.
const maxExact = 1 << 53

// Rule maps payloads on matching topics to one measurement.
type Rule struct {
	// Match is a topic filter relative to the device topic ("" is the
	// device topic itself, "SENSOR", "+/state", "#").
	Match       string `yaml:"match"`
	Measurement string `yaml:"measurement"`
	// Tags are added to every sample; a value "$N" takes segment N (1-based)
	// of the full topic, e.g. room: $2 for "site/hall/th1".
	Tags   map[string]string `yaml:"tags,omitempty"`
	Fields []Field           `yaml:"fields"`
	// Ignore accepts matching messages without producing samples (status
	// chatter such as Tasmota INFO1), unless another rule maps them.
	Ignore bool `yaml:"ignore,omitempty"`
	// When, if set, is a path that must exist for the rule to apply:
	// Zigbee2MQTT's "voltage" is a battery's mV unless the device meters power.
	When string `yaml:"when,omitempty"`
}

// Field extracts one sample field.
type Field struct {
	Name string `yaml:"name"`
	// Path into the JSON document: "a.b", "list[0].v", "list[type=co2].v",
	// "*.Temperature", alternatives "x|y", "$" for a bare value payload.
	Path string `yaml:"path"`
	Type string `yaml:"type,omitempty"` // float (default), int, bool, string
	// Scale and Offset apply to numbers: v*scale + offset (scale 0 = 1).
	Scale  float64 `yaml:"scale,omitempty"`
	Offset float64 `yaml:"offset,omitempty"`
	// Convert names a unit conversion (see Conversions), applied after scale.
	Convert string `yaml:"convert,omitempty"`
	// UnitPath reads the payload's unit and Units maps it to a conversion,
	// for devices that report their unit (Tasmota TempUnit "F").
	UnitPath string            `yaml:"unit_path,omitempty"`
	Units    map[string]string `yaml:"units,omitempty"`
	// Min and Max bound plausible values; unset means DefaultRange(Name).
	Min *float64 `yaml:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty"`
	// Invert negates a bool (Zigbee2MQTT contact=true means closed).
	Invert bool `yaml:"invert,omitempty"`
}

// Reject is one refusal with its reason.
type Reject struct {
	Reason string
	Detail string
}

func (r Reject) Error() string { return r.Reason + ": " + r.Detail }

// Mapping is a compiled, immutable list of rules; safe for concurrent use.
type Mapping struct{ rules []compiledRule }

type compiledRule struct {
	Rule
	match  []string
	when   *Path
	fields []compiledField
}

type compiledField struct {
	Field
	path     Path
	unitPath Path
	hasUnit  bool
	min, max float64
}

// Compile validates rules; errors name the rule and field index.
func Compile(rules []Rule) (*Mapping, error) {
	m := &Mapping{}
	for i, r := range rules {
		cr := compiledRule{Rule: r}
		if r.Match != "" {
			cr.match = strings.Split(r.Match, "/")
		}
		if r.When != "" {
			p, err := CompilePath(r.When)
			if err != nil {
				return nil, fmt.Errorf("[%d].when: %w", i, err)
			}
			cr.when = &p
		}
		if r.Ignore {
			m.rules = append(m.rules, cr)
			continue
		}
		if r.Measurement == "" {
			return nil, fmt.Errorf("[%d].measurement: required", i)
		}
		if len(r.Fields) == 0 {
			return nil, fmt.Errorf("[%d].fields: at least one field required", i)
		}
		for j, f := range r.Fields {
			cf, err := compileField(f)
			if err != nil {
				return nil, fmt.Errorf("[%d].fields[%d]: %w", i, j, err)
			}
			cr.fields = append(cr.fields, cf)
		}
		m.rules = append(m.rules, cr)
	}
	return m, nil
}

func compileField(f Field) (compiledField, error) {
	cf := compiledField{Field: f}
	if f.Name == "" {
		return cf, fmt.Errorf("name: required")
	}
	var err error
	if cf.path, err = CompilePath(f.Path); err != nil {
		return cf, fmt.Errorf("path: %w", err)
	}
	switch f.Type {
	case "", "float", "int", "bool", "string":
	default:
		return cf, fmt.Errorf("type: %q is not float, int, bool or string", f.Type)
	}
	if _, ok := Conversions[f.Convert]; !ok {
		return cf, fmt.Errorf("convert: unknown conversion %q", f.Convert)
	}
	for u, c := range f.Units {
		if _, ok := Conversions[c]; !ok {
			return cf, fmt.Errorf("units.%s: unknown conversion %q", u, c)
		}
	}
	if f.UnitPath != "" {
		if cf.unitPath, err = CompilePath(f.UnitPath); err != nil {
			return cf, fmt.Errorf("unit_path: %w", err)
		}
		cf.hasUnit = true
	}
	cf.min, cf.max = DefaultRange(f.Name)
	if f.Min != nil {
		cf.min = *f.Min
	}
	if f.Max != nil {
		cf.max = *f.Max
	}
	if cf.min > cf.max {
		return cf, fmt.Errorf("min %v > max %v", cf.min, cf.max)
	}
	return cf, nil
}

// Matches reports whether some rule matches the topic relative to the
// device topic (rel has no leading slash; "" is the device topic).
func (m *Mapping) Matches(rel string) bool {
	for _, r := range m.rules {
		if matchTopic(r.match, rel) {
			return true
		}
	}
	return false
}

// Apply decodes payload once and runs every rule matching rel. tags are
// added to each sample. Field-level refusals drop only that field: a broken
// temperature must not cost the humidity reading next to it.
func (m *Mapping) Apply(topic, rel string, payload []byte, tags map[string]string, now time.Time) ([]sample.Sample, []Reject) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // integers keep every digit until the field type decides
	if err := dec.Decode(&doc); err != nil {
		return nil, []Reject{{ReasonInvalidJSON, err.Error()}}
	}
	if dec.More() {
		return nil, []Reject{{ReasonInvalidJSON, "trailing data after JSON value"}}
	}
	var out []sample.Sample
	var rejects []Reject
	matched, ignored := false, false
	segs := strings.Split(topic, "/")
	for _, r := range m.rules {
		if !matchTopic(r.match, rel) {
			continue
		}
		if r.Ignore {
			ignored = true
			continue
		}
		if r.when != nil {
			if _, ok := r.when.Lookup(doc); !ok {
				ignored = true
				continue
			}
		}
		matched = true
		fields := map[string]any{}
		for _, f := range r.fields {
			v, ok, rej := f.extract(doc)
			if rej != nil {
				rejects = append(rejects, *rej)
			} else if ok {
				fields[f.Name] = v
			}
		}
		if len(fields) == 0 {
			continue
		}
		st, rej := ruleTags(tags, r.Tags, segs)
		if rej != nil {
			rejects = append(rejects, *rej)
			continue
		}
		out = append(out, sample.Sample{Measurement: r.Measurement, Tags: st, Fields: fields, Time: now})
	}
	switch {
	case !matched && ignored:
	case !matched:
		rejects = append(rejects, Reject{ReasonUnknownTopic, "no mapping for topic " + topic})
	case len(out) == 0 && len(rejects) == 0:
		rejects = append(rejects, Reject{ReasonNoFields, "payload has none of the mapped fields"})
	}
	return out, rejects
}

// ruleTags builds a sample's tags. A value taken from a topic segment is
// device input: one line protocol cannot carry refuses the sample here, so
// it is counted and acknowledged instead of failing in the buffer.
func ruleTags(base, rule map[string]string, segs []string) (map[string]string, *Reject) {
	t := make(map[string]string, len(base)+len(rule))
	for k, v := range base {
		t[k] = v
	}
	for k, v := range rule {
		if n, err := strconv.Atoi(strings.TrimPrefix(v, "$")); err == nil && strings.HasPrefix(v, "$") {
			if n >= 1 && n <= len(segs) && segs[n-1] != "" {
				if err := CheckTagValue(segs[n-1]); err != nil {
					return nil, &Reject{ReasonInvalidTag, fmt.Sprintf("tag %s from topic segment %d: %v", k, n, err)}
				}
				t[k] = segs[n-1]
			}
			continue
		}
		t[k] = v
	}
	return t, nil
}

// CheckTagValue reports why v cannot be an InfluxDB tag value: line
// protocol has no escape for control characters (a newline ends the line)
// and a trailing backslash would escape the separator after it.
func CheckTagValue(v string) error {
	switch {
	case v == "":
		return errors.New("empty")
	case !utf8.ValidString(v):
		return errors.New("not valid UTF-8")
	case strings.HasSuffix(v, `\`):
		return errors.New("ends in a backslash")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

func matchTopic(filter []string, rel string) bool {
	var segs []string
	if rel != "" {
		segs = strings.Split(rel, "/")
	}
	for i, f := range filter {
		if f == "#" {
			return true
		}
		if i >= len(segs) || (f != "+" && f != segs[i]) {
			return false
		}
	}
	return len(filter) == len(segs)
}

func (f compiledField) extract(doc any) (any, bool, *Reject) {
	raw, ok := f.path.Lookup(doc)
	if f.Path == "$" {
		raw, ok = doc, doc != nil
	}
	if !ok {
		return nil, false, nil
	}
	switch f.Type {
	case "bool":
		b, err := toBool(raw)
		if err != nil {
			return nil, false, &Reject{ReasonWrongType, f.Name + ": " + err.Error()}
		}
		return b != f.Invert, true, nil
	case "string":
		s, isStr := raw.(string)
		if !isStr {
			return nil, false, &Reject{ReasonWrongType, fmt.Sprintf("%s: want string, got %T", f.Name, raw)}
		}
		return s, true, nil
	}
	if f.Type == "int" && f.plain() {
		// An integer literal keeps every digit, above 2^53 too.
		if n, ok := exactInt(raw); ok {
			if x := float64(n); x < f.min || x > f.max {
				return nil, false, &Reject{ReasonOutOfRange, fmt.Sprintf("%s: %d outside [%g, %g]", f.Name, n, f.min, f.max)}
			}
			return n, true, nil
		}
	}
	x, rej := f.number(doc, raw)
	if rej != nil {
		return nil, false, rej
	}
	if f.Type == "int" {
		r := math.Round(x)
		if math.Abs(r) > maxExact {
			return nil, false, &Reject{ReasonDoesNotFit, fmt.Sprintf("%s: %g does not fit an integer field exactly", f.Name, x)}
		}
		return int64(r), true, nil
	}
	if n, ok := exactInt(raw); ok && (n > maxExact || n < -maxExact) && int64(float64(n)) != n {
		return nil, false, &Reject{ReasonDoesNotFit, fmt.Sprintf("%s: %d loses digits as a float (map it as type int)", f.Name, n)}
	}
	return x, true, nil
}

// plain reports whether the field stores the device's number unchanged.
func (f compiledField) plain() bool {
	return f.Scale == 0 && f.Offset == 0 && f.Convert == "" && !f.hasUnit
}

// exactInt returns raw as an int64 if it is an integer literal that fits.
func exactInt(raw any) (int64, bool) {
	var s string
	switch v := raw.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (f compiledField) number(doc, raw any) (float64, *Reject) {
	var x float64
	switch v := raw.(type) {
	case json.Number:
		p, err := strconv.ParseFloat(string(v), 64)
		if err != nil { // out of float64's range: 1e999
			return 0, &Reject{ReasonDoesNotFit, fmt.Sprintf("%s: %s is beyond a float", f.Name, v)}
		}
		x = p
	case float64:
		x = v
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, &Reject{ReasonWrongType, fmt.Sprintf("%s: %q is not a number", f.Name, v)}
		}
		x = p
	default:
		return 0, &Reject{ReasonWrongType, fmt.Sprintf("%s: want number, got %T", f.Name, raw)}
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, &Reject{ReasonNotFinite, fmt.Sprintf("%s: %v", f.Name, x)}
	}
	if f.Scale != 0 {
		x *= f.Scale
	}
	x += f.Offset
	conv := f.Convert
	if f.hasUnit {
		if u, ok := f.unitPath.Lookup(doc); ok {
			if c, ok := f.Units[fmt.Sprint(u)]; ok {
				conv = c
			}
		}
	}
	x = Conversions[conv](x)
	if math.IsNaN(x) || math.IsInf(x, 0) { // scale or conversion overflowed
		return 0, &Reject{ReasonNotFinite, fmt.Sprintf("%s: %v after scaling", f.Name, x)}
	}
	if x < f.min || x > f.max {
		return 0, &Reject{ReasonOutOfRange, fmt.Sprintf("%s: %g outside [%g, %g]", f.Name, x, f.min, f.max)}
	}
	return x, nil
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case json.Number:
		switch x {
		case "0", "1":
			return x == "1", nil
		}
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "on", "1", "open", "yes", "detected", "alarm", "wet":
			return true, nil
		case "false", "off", "0", "closed", "close", "no", "clear", "ok", "dry":
			return false, nil
		}
	}
	return false, fmt.Errorf("%v (%T) is not a boolean", v, v)
}
