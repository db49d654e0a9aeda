// Package sample defines the one datum every part of Polis Edge exchanges: a
// timestamped set of field values from one device, shaped like an InfluxDB point.
//
// Protocol drivers produce samples, the edge buffers them as line protocol, the
// uplink carries that line protocol unchanged and the fleet writes it to InfluxDB.
// Keeping the encoding here means every hop agrees on it.
package sample

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Sample is one point. Fields hold float64, int64, bool or string values; other
// Go integer types are accepted by Validate and encoded as int64 (InfluxDB 1.8
// does not accept unsigned integers by default).
type Sample struct {
	Measurement string
	Tags        map[string]string
	Fields      map[string]any
	Time        time.Time
}

// Well-known tag keys, shared by all measurements (see docs/influxdb-schema.md).
const (
	TagOffice = "office"
	TagDevice = "device"
)

// Oldest and newest timestamps accepted: anything outside is a broken clock or a
// garbled value, and would land in InfluxDB where no analyst would find it.
var (
	MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrInvalid wraps every validation failure so callers can count them apart from
// I/O errors.
var ErrInvalid = errors.New("invalid sample")

// Validate reports why s cannot become an InfluxDB point, or nil.
func (s Sample) Validate() error {
	if s.Measurement == "" {
		return fmt.Errorf("%w: empty measurement", ErrInvalid)
	}
	if len(s.Fields) == 0 {
		return fmt.Errorf("%w: %s has no fields", ErrInvalid, s.Measurement)
	}
	if s.Time.Before(MinTime) || !s.Time.Before(MaxTime) {
		return fmt.Errorf("%w: %s time %s out of range", ErrInvalid, s.Measurement, s.Time.Format(time.RFC3339))
	}
	for k, v := range s.Tags {
		if k == "" || v == "" {
			return fmt.Errorf("%w: %s has an empty tag key or value (%q=%q)", ErrInvalid, s.Measurement, k, v)
		}
	}
	for k, v := range s.Fields {
		if k == "" {
			return fmt.Errorf("%w: %s has an empty field key", ErrInvalid, s.Measurement)
		}
		if _, err := fieldValue(v); err != nil {
			return fmt.Errorf("%w: %s field %s: %v", ErrInvalid, s.Measurement, k, err)
		}
	}
	return nil
}

func fieldValue(v any) (lineprotocol.Value, error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return lineprotocol.Value{}, fmt.Errorf("not a finite number (%v)", x)
		}
		val, _ := lineprotocol.FloatValue(x)
		return val, nil
	case float32:
		return fieldValue(float64(x))
	case int64:
		return lineprotocol.IntValue(x), nil
	case int:
		return lineprotocol.IntValue(int64(x)), nil
	case int32:
		return lineprotocol.IntValue(int64(x)), nil
	case uint16:
		return lineprotocol.IntValue(int64(x)), nil
	case uint32:
		return lineprotocol.IntValue(int64(x)), nil
	case uint64:
		if x > math.MaxInt64 {
			return lineprotocol.Value{}, fmt.Errorf("unsigned value %d overflows int64", x)
		}
		return lineprotocol.IntValue(int64(x)), nil
	case bool:
		return lineprotocol.BoolValue(x), nil
	case string:
		val, ok := lineprotocol.StringValue(x)
		if !ok {
			return lineprotocol.Value{}, errors.New("string is not valid UTF-8")
		}
		return val, nil
	default:
		return lineprotocol.Value{}, fmt.Errorf("unsupported type %T", v)
	}
}

// AppendLine validates s and appends it to dst as one line of InfluxDB line
// protocol (nanosecond precision, tags and fields sorted, trailing newline).
func (s Sample) AppendLine(dst []byte) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return dst, err
	}
	var enc lineprotocol.Encoder
	enc.SetBuffer(dst)
	enc.SetPrecision(lineprotocol.Nanosecond)
	enc.StartLine(s.Measurement)
	for _, k := range sortedKeys(s.Tags) {
		enc.AddTag(k, s.Tags[k])
	}
	for _, k := range sortedKeys(s.Fields) {
		v, _ := fieldValue(s.Fields[k]) // validated above
		enc.AddField(k, v)
	}
	enc.EndLine(s.Time)
	if err := enc.Err(); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return enc.Bytes(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
