package mapping

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// step is one element of a field path: a key, an array index, an array
// element selected by one of its keys, or "*" (any key of an object, first in
// sorted order). Tasmota names its sub-objects after the sensor chip
// (AM2301, SHT3X, ...), so "*" lets one preset read all of them.
type step struct {
	key      string
	index    int // -1 when not an index
	selKey   string
	selValue string
	any      bool
}

// Path is a compiled field path such as "readings[type=temp].value",
// "data.values[0]" or "*.Temperature". Alternatives are separated by "|"
// and tried in order ("illuminance_lux|illuminance").
type Path struct {
	src  string
	alts [][]step
}

func (p Path) String() string { return p.src }

// CompilePath parses a path expression.
func CompilePath(src string) (Path, error) {
	p := Path{src: src}
	if strings.TrimSpace(src) == "" {
		return p, fmt.Errorf("empty path")
	}
	for _, alt := range strings.Split(src, "|") {
		steps, err := compileAlt(strings.TrimSpace(alt))
		if err != nil {
			return p, fmt.Errorf("path %q: %w", src, err)
		}
		p.alts = append(p.alts, steps)
	}
	return p, nil
}

func compileAlt(s string) ([]step, error) {
	var steps []step
	// "\." escapes a dot inside a key (Tasmota's "PM2.5").
	for _, part := range strings.Split(strings.ReplaceAll(s, `\.`, "\x00"), ".") {
		part = strings.ReplaceAll(part, "\x00", ".")
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			steps = append(steps, step{key: name, index: -1, any: name == "*"})
		}
		for rest != "" {
			inner, after, ok := strings.Cut(rest, "]")
			if !ok {
				return nil, fmt.Errorf("unclosed [ in %q", part)
			}
			st := step{index: -1}
			if k, v, isSel := strings.Cut(inner, "="); isSel {
				st.selKey, st.selValue = k, v
			} else {
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("bad index [%s]", inner)
				}
				st.index = n
			}
			steps = append(steps, st)
			rest = strings.TrimPrefix(after, "[")
			if after != "" && !strings.HasPrefix(after, "[") {
				return nil, fmt.Errorf("unexpected %q after ]", after)
			}
		}
		if name == "" && !strings.Contains(part, "[") {
			return nil, fmt.Errorf("empty path element")
		}
	}
	return steps, nil
}

// Lookup returns the value at the first alternative that exists in doc.
func (p Path) Lookup(doc any) (any, bool) {
	for _, alt := range p.alts {
		if v, ok := walk(doc, alt); ok {
			return v, true
		}
	}
	return nil, false
}

func walk(v any, steps []step) (any, bool) {
	if len(steps) == 0 {
		return v, v != nil
	}
	st := steps[0]
	switch {
	case st.any:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if r, ok := walk(obj[k], steps[1:]); ok {
				return r, true
			}
		}
		return nil, false
	case st.key != "":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		child, ok := obj[st.key]
		if !ok {
			return nil, false
		}
		return walk(child, steps[1:])
	case st.index >= 0:
		arr, ok := v.([]any)
		if !ok || st.index >= len(arr) {
			return nil, false
		}
		return walk(arr[st.index], steps[1:])
	default:
		arr, ok := v.([]any)
		if !ok {
			return nil, false
		}
		for _, el := range arr {
			obj, ok := el.(map[string]any)
			if ok && fmt.Sprint(obj[st.selKey]) == st.selValue {
				return walk(el, steps[1:])
			}
		}
		return nil, false
	}
}
