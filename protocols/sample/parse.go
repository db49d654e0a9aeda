package sample

import (
	"fmt"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Parse decodes line protocol (one or more lines, nanosecond precision) into
// samples. A line without a timestamp is an error: samples always carry the time
// they were measured.
func Parse(lines []byte) ([]Sample, error) {
	var out []Sample
	err := ForEachLine(lines, func(s Sample, _ []byte) error {
		out = append(out, s)
		return nil
	})
	return out, err
}

// ForEachLine decodes lines one at a time and calls fn with each sample and its
// raw line. A malformed line stops the walk with an error naming the line number;
// the caller decides whether the rest is still usable.
func ForEachLine(lines []byte, fn func(s Sample, raw []byte) error) error {
	n := 0
	for len(lines) > 0 {
		n++
		end := indexNewline(lines)
		raw := lines[:end]
		if end < len(lines) {
			lines = lines[end+1:]
		} else {
			lines = nil
		}
		if len(raw) == 0 || raw[0] == '#' {
			continue
		}
		s, err := ParseLine(raw)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := fn(s, raw); err != nil {
			return err
		}
	}
	return nil
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return len(b)
}

// ParseLine decodes exactly one line of line protocol and validates the result.
//
// One trailing '\n' (as AppendLine writes it) is allowed; other whitespace
// around the line is not (see checkShape).
func ParseLine(raw []byte) (Sample, error) {
	if n := len(raw); n > 0 && raw[n-1] == '\n' {
		raw = raw[:n-1]
	}
	if err := checkShape(raw); err != nil {
		return Sample{}, err
	}
	dec := lineprotocol.NewDecoderWithBytes(raw)
	if !dec.Next() {
		return Sample{}, fmt.Errorf("%w: empty line", ErrInvalid)
	}
	m, err := dec.Measurement()
	if err != nil {
		return Sample{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s := Sample{Measurement: string(m), Fields: map[string]any{}}
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return Sample{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if k == nil {
			break
		}
		if s.Tags == nil {
			s.Tags = map[string]string{}
		}
		s.Tags[string(k)] = string(v)
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return Sample{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if k == nil {
			break
		}
		s.Fields[string(k)] = v.Interface()
	}
	s.Time, err = dec.Time(lineprotocol.Nanosecond, time.Time{})
	if err != nil {
		return Sample{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if s.Time.IsZero() {
		return Sample{}, fmt.Errorf("%w: %s has no timestamp", ErrInvalid, s.Measurement)
	}
	if dec.Next() {
		return Sample{}, fmt.Errorf("%w: more than one line", ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return Sample{}, err
	}
	return s, nil
}
