// Package ingest turns one telemetry message into InfluxDB points and the ack
// the office waits for. One bad line costs only that line; the ack says "ok"
// only once InfluxDB has accepted what was kept.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/polis-edge/polis/fleet/influx"
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
)

// Writer is what ingest needs from InfluxDB (see influx.Writer for the error contract).
type Writer interface {
	Write(ctx context.Context, lines string) error
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
}

// Ingester is safe for concurrent use by the worker pool.
type Ingester struct {
	w    Writer
	tags Tagger
}

func New(w Writer, tags Tagger) *Ingester { return &Ingester{w: w, tags: tags} }

// Handle processes one message of polis/v1/<office>/telemetry.
func (in *Ingester) Handle(ctx context.Context, office string, payload []byte) Result {
	r := Result{Office: office, Ack: uplink.Ack{Reasons: map[string]int{}}}
	b, err := uplink.DecodeBatch(payload)
	if err != nil {
		return r.reject(ReasonMalformed, err)
	}
	r.Batch = true
	r.Ack.Seq, r.Ack.Last = b.Seq, b.Last
	if b.Office != office {
		return r.reject(ReasonWrongOffice, fmt.Errorf("batch header office %q on topic of office %q", b.Office, office))
	}
	body, events := in.prepare(office, b.Lines, &r.Ack)
	r.Events = events
	if len(body) == 0 {
		r.Ack.Status = uplink.AckOK
		return r.finish()
	}
	start := time.Now()
	err = in.w.Write(ctx, string(body))
	r.Write = time.Since(start)
	var de *influx.DataError
	switch {
	case err == nil:
		r.Ack.Status = uplink.AckOK
	case errors.As(err, &de):
		// Resending would fail the same way forever: ack ok, count what InfluxDB dropped.
		n := de.Dropped
		if n < 0 || n > r.Ack.Accepted {
			n = r.Ack.Accepted
		}
		r.Ack.Accepted -= n
		r.Ack.Rejected += n
		r.Ack.Reasons[ReasonInfluxRejected] += n
		r.Ack.Status = uplink.AckOK
		r.Ack.Error = de.Error()
		r.Err = err
	default:
		r.Ack = uplink.Ack{Seq: b.Seq, Last: b.Last, Status: uplink.AckRetry, Error: err.Error()}
		r.Err = err
		r.Events = nil
		return r
	}
	r.Written = bytes.Count(body, []byte("\n")) + 1
	return r.finish()
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

// prepare validates each line, stamps office and registry tags, and returns
// the lines to write ('\n' separated, no trailing newline) plus alarm events.
//
// This is the fleet's hot path. Most lines are checked in place and the tags
// spliced in after the existing ones (InfluxDB sorts tags itself); only
// events (needed whole for the alarm list), unsigned fields (re-encoded as
// int for InfluxDB 1.8) and lines already carrying a registry tag key take
// the slow parse-and-re-encode path.
func (in *Ingester) prepare(office string, lines []byte, ack *uplink.Ack) ([]byte, []sample.Sample) {
	tags := in.tags(office)
	var suffix []byte // the registry tags, escaped once per batch
	for _, t := range tags {
		suffix = sample.AppendTag(suffix, t.Key, t.Value)
	}
	out := make([]byte, 0, len(lines)+len(lines)/4)
	var events []sample.Sample
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
		if len(out) > 0 {
			out = append(out, '\n')
		}
		if info.Measurement == sample.MeasurementEvents || info.HasUint || conflict {
			n := len(out)
			s, err := sample.ParseLine(raw)
			if err == nil {
				out, err = stamp(out, s, raw, office, tags)
			}
			if err != nil {
				out = out[:max(n-1, 0)]
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
	}
	return out, events
}

// stamp appends the line with the office and registry tags. A line that
// already carries exactly those tags is copied as is, saving a re-encode.
func stamp(dst []byte, s sample.Sample, raw []byte, office string, tags []Tag) ([]byte, error) {
	if len(tags) == 0 && s.Tags[sample.TagOffice] == office {
		return append(dst, raw...), nil
	}
	if s.Tags == nil {
		s.Tags = make(map[string]string, len(tags)+1)
	}
	s.Tags[sample.TagOffice] = office
	for _, t := range tags {
		s.Tags[t.Key] = t.Value // the registry is authoritative for where an office is
	}
	dst, err := s.AppendLine(dst)
	if err != nil {
		return dst, err
	}
	return dst[:len(dst)-1], nil // AppendLine ends with '\n'; lines are joined by the caller
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
