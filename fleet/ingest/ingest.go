// Package ingest turns one telemetry message into InfluxDB points and the ack
// the office waits for. One bad line costs only that line; the ack says "ok"
// only once InfluxDB has accepted what was kept.
package ingest

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/uplink"
)

// Reasons a batch or line is rejected; they appear in acks and metrics.
const (
	ReasonMalformed      = "malformed"       // payload not a batch
	ReasonWrongOffice    = "wrong_office"    // header or line office differs from the topic
	ReasonInvalidLine    = "invalid_line"    // not line protocol
	ReasonInvalidValue   = "invalid_value"   // line protocol, but not a valid sample
	ReasonInfluxRejected = "influx_rejected" // InfluxDB refused the data itself
	ReasonClockAhead     = "clock_ahead"     // stamped later than the fleet's clock allows: the office's clock is off
)

// DefaultClockTolerance is how far ahead of the fleet's clock a sample may be
// stamped (clock drift, NTP steps) before it is refused as ReasonClockAhead.
const DefaultClockTolerance = 5 * time.Minute

// Writer is what ingest needs from InfluxDB (see influx.Writer for the error
// contract). It must not keep lines after it returns: ingest reuses them.
type Writer interface {
	Write(ctx context.Context, lines []byte) error
}

// Tagger returns the registry tags (region, province, …) for an office, sorted
// by key; nil for an office the registry does not know.
type Tagger func(office string) []Tag

// Tag is one registry tag added to every point of an office.
type Tag struct{ Key, Value string }

// Result is the outcome of one message.
type Result struct {
	Office  string
	Ack     uplink.Ack
	Batch   bool            // the payload decoded as a batch
	Events  []sample.Sample // warning/critical events written, for the alarm list
	Written int             // lines sent to InfluxDB
	Write   time.Duration   // InfluxDB round trip, 0 if not written
	Err     error           // InfluxDB failure (Ack.Status retry), for logs and metrics
	// ClockAhead is how far the latest line refused as ReasonClockAhead was
	// ahead of the fleet's clock: the office's clock is off by about that.
	ClockAhead time.Duration
}

// Ingester is safe for concurrent use by the worker pool.
type Ingester struct {
	w    Writer
	tags Tagger
	// ClockTolerance bounds how far ahead of the fleet's clock a sample may
	// be stamped; set it before use. Zero means DefaultClockTolerance. A box
	// whose clock jumped to 2099 would otherwise fill InfluxDB with points
	// no dashboard shows, and hide its real data behind them.
	ClockTolerance time.Duration
}

func New(w Writer, tags Tagger) *Ingester { return &Ingester{w: w, tags: tags} }

// Handle processes one message of polis/v1/<office>/telemetry.
func (in *Ingester) Handle(ctx context.Context, office string, payload []byte) Result {
	return in.HandleMany(ctx, []Message{{Office: office, Payload: payload}})[0]
}

func (r Result) reject(reason string, err error) Result {
	r.Ack.Status = uplink.AckRejected
	r.Ack.Rejected = 1
	r.Ack.Reasons[reason] = 1
	r.Ack.Error = err.Error()
	return r.finish()
}

func (r Result) finish() Result {
	if len(r.Ack.Reasons) == 0 {
		r.Ack.Reasons = nil
	}
	return r
}

// prepare validates each line, stamps office and registry tags, and appends
// the lines to write to out ('\n' separated, no trailing newline; a '\n'
// first when out already holds lines) and their end offsets to ends, plus
// alarm events.
//
// This is the fleet's hot path. Most lines are checked in place and the tags
// spliced in after the existing ones (InfluxDB sorts tags itself); only
// events (needed whole for the alarm list), unsigned fields (re-encoded as
// int for InfluxDB 1.8) and lines already carrying a registry tag key take
// the slow parse-and-re-encode path.
func (in *Ingester) prepare(office string, lines []byte, ack *uplink.Ack, out []byte, ends []int) ([]byte, []int, []sample.Sample, time.Duration) {
	var events []sample.Sample
	var ahead time.Duration
	tol := in.ClockTolerance
	if tol <= 0 {
		tol = DefaultClockTolerance
	}
	latest := time.Now().Add(tol)
	tags := in.tags(office)
	var suffix []byte // the registry tags, escaped once per batch
	for _, t := range tags {
		suffix = sample.AppendTag(suffix, t.Key, t.Value)
	}
	for len(lines) > 0 {
		raw, rest, _ := bytes.Cut(lines, []byte("\n"))
		lines = rest
		if len(raw) == 0 || raw[0] == '#' {
			continue
		}
		conflict := false
		info, err := sample.Check(raw, func(k []byte) {
			for _, t := range tags {
				if string(k) == t.Key {
					conflict = true
				}
			}
		})
		if err != nil {
			ack.Rejected++
			ack.Reasons[lineReason(raw)]++
			continue
		}
		if info.Office != "" && info.Office != office {
			ack.Rejected++
			ack.Reasons[ReasonWrongOffice]++
			continue
		}
		if info.Time.After(latest) {
			ack.Rejected++
			ack.Reasons[ReasonClockAhead]++
			ahead = max(ahead, info.Time.Sub(latest)+tol)
			continue
		}
		n := len(out)
		if n > 0 {
			out = append(out, '\n')
		}
		// A backslash in the fields may be a string escape (\n, \t) that
		// InfluxDB 1.8 would store literally: those lines are re-encoded.
		escaped := bytes.IndexByte(raw[info.KeyEnd:], '\\') >= 0
		if info.Measurement == sample.MeasurementEvents || info.HasUint || conflict || escaped {
			s, err := sample.ParseLine(raw)
			if err == nil {
				out, err = stamp(out, s, office, tags)
			}
			if err != nil {
				out = out[:n]
				ack.Rejected++
				ack.Reasons[ReasonInvalidValue]++
				continue
			}
			if isAlarm(s) {
				events = append(events, s)
			}
		} else {
			out = append(out, raw[:info.KeyEnd]...)
			if info.Office == "" {
				out = sample.AppendTag(out, sample.TagOffice, office)
			}
			out = append(out, suffix...)
			out = append(out, raw[info.KeyEnd:]...)
		}
		ack.Accepted++
		ends = append(ends, len(out))
	}
	return out, ends, events, ahead
}

// stamp appends the line with the office and registry tags, encoded for
// InfluxDB 1.8 (see appendLine18).
func stamp(dst []byte, s sample.Sample, office string, tags []Tag) ([]byte, error) {
	if s.Tags == nil {
		s.Tags = make(map[string]string, len(tags)+1)
	}
	s.Tags[sample.TagOffice] = office
	for _, t := range tags {
		s.Tags[t.Key] = t.Value // the registry is authoritative for where an office is
	}
	return appendLine18(dst, s)
}

// lineReason tells unparseable text from a well-formed line with bad values
// (out-of-range time, NaN, empty tag), which point at different bugs.
func lineReason(raw []byte) string {
	dec := lineprotocol.NewDecoderWithBytes(raw)
	for dec.Next() {
		if _, err := dec.Measurement(); err != nil {
			return ReasonInvalidLine
		}
		for {
			k, _, err := dec.NextTag()
			if err != nil {
				return ReasonInvalidLine
			}
			if k == nil {
				break
			}
		}
		for {
			k, _, err := dec.NextField()
			if err != nil {
				return ReasonInvalidLine
			}
			if k == nil {
				break
			}
		}
		if _, err := dec.TimeBytes(); err != nil {
			return ReasonInvalidLine
		}
	}
	if dec.Err() != nil {
		return ReasonInvalidLine
	}
	return ReasonInvalidValue
}

func isAlarm(s sample.Sample) bool {
	if s.Measurement != sample.MeasurementEvents {
		return false
	}
	sev, _ := s.Fields["severity"].(string)
	sev = strings.ToLower(sev)
	return sev == sample.SeverityWarning || sev == sample.SeverityCritical
}
