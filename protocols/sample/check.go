package sample

import (
	"fmt"
	"math"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// LineInfo is what Check learns about a line without building a Sample.
type LineInfo struct {
	Measurement string
	Office      string // value of the office tag, "" if absent
	KeyEnd      int    // index of the space that ends measurement and tags
	HasUint     bool   // a field is unsigned: InfluxDB 1.8 refuses those, re-encode as int
	Time        time.Time
}

// Check validates one line by the same rules as ParseLine + Validate, but
// walks it in place instead of building maps: the fleet checks every line
// it ingests, and this is its hot path. tagKey, if not nil, is called for
// each tag key so the caller can spot keys it wants to set itself.
func Check(raw []byte, tagKey func(key []byte)) (LineInfo, error) {
	if info, ok := checkPlain(raw, tagKey); ok {
		return info, nil
	}
	return checkDecoded(raw, tagKey)
}

// checkDecoded is Check through the line-protocol decoder: every line the
// plain path does not take, valid or not, with the decoder's error.
func checkDecoded(raw []byte, tagKey func(key []byte)) (LineInfo, error) {
	var info LineInfo
	if err := checkShape(raw); err != nil {
		return info, err
	}
	dec := lineprotocol.NewDecoderWithBytes(raw)
	if !dec.Next() {
		return info, fmt.Errorf("%w: empty line", ErrInvalid)
	}
	m, err := dec.Measurement()
	if err != nil {
		return info, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(m) == 0 {
		return info, fmt.Errorf("%w: empty measurement", ErrInvalid)
	}
	info.Measurement = string(m)
	if err := checkTags(dec, &info, tagKey); err != nil {
		return info, err
	}
	if err := checkFields(dec, &info); err != nil {
		return info, err
	}
	t, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
	if err != nil {
		return info, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if t.IsZero() {
		return info, fmt.Errorf("%w: %s has no timestamp", ErrInvalid, info.Measurement)
	}
	if t.Before(MinTime) || !t.Before(MaxTime) {
		return info, fmt.Errorf("%w: %s time %s out of range", ErrInvalid, info.Measurement, t.UTC().Format(time.RFC3339))
	}
	if dec.Next() {
		return info, fmt.Errorf("%w: more than one line", ErrInvalid)
	}
	info.Time = t
	info.KeyEnd = keyEnd(raw)
	return info, nil
}

// checkShape refuses whitespace around a line. The decoder skips it, but
// the fleet splices tags in at the first space (a leading space puts them
// before the measurement) and InfluxDB 1.8 reads a trailing '\r' as part of
// the timestamp and drops the point: such a line would be counted accepted
// and never stored.
func checkShape(raw []byte) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: empty line", ErrInvalid)
	}
	if isSpace(raw[0]) {
		return fmt.Errorf("%w: line starts with whitespace", ErrInvalid)
	}
	if isSpace(raw[len(raw)-1]) {
		return fmt.Errorf("%w: line ends with whitespace", ErrInvalid)
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func checkTags(dec *lineprotocol.Decoder, info *LineInfo, tagKey func([]byte)) error {
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if k == nil {
			return nil
		}
		if len(v) == 0 {
			return fmt.Errorf("%w: %s has an empty tag value (%s)", ErrInvalid, info.Measurement, k)
		}
		if string(k) == TagOffice {
			info.Office = string(v)
		}
		if tagKey != nil {
			tagKey(k)
		}
	}
}

func checkFields(dec *lineprotocol.Decoder, info *LineInfo) error {
	n := 0
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if k == nil {
			break
		}
		n++
		switch v.Kind() {
		case lineprotocol.Float:
			if f := v.FloatV(); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%w: %s field %s: not a finite number", ErrInvalid, info.Measurement, k)
			}
		case lineprotocol.Uint:
			if v.UintV() > math.MaxInt64 {
				return fmt.Errorf("%w: %s field %s: unsigned value overflows int64", ErrInvalid, info.Measurement, k)
			}
			info.HasUint = true
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: %s has no fields", ErrInvalid, info.Measurement)
	}
	return nil
}

// keyEnd finds the first unescaped space: the end of measurement and tags.
func keyEnd(raw []byte) int {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case ' ':
			return i
		}
	}
	return len(raw)
}

// AppendTag appends ",key=value" with line-protocol escaping, for splicing
// tags into a line at KeyEnd.
func AppendTag(dst []byte, key, value string) []byte {
	dst = append(dst, ',')
	dst = appendEscaped(dst, key)
	dst = append(dst, '=')
	return appendEscaped(dst, value)
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '=', ' ', '\\':
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}
