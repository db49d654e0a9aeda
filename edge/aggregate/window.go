package aggregate

import (
	"maps"
	"strings"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// window accumulates one series over one window.
type window struct {
	measurement string
	tags        map[string]string
	start       time.Time
	every       time.Duration
	n           int64
	gauges      map[string]*stats // float gauges
	last        map[string]lastValue
}

type stats struct {
	sum, min, max float64
	n             int
}

type lastValue struct {
	at time.Time
	v  any
}

func newWindow(s sample.Sample, every time.Duration, start time.Time) *window {
	tags := maps.Clone(s.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags[TagAgg] = Label(every)
	return &window{measurement: s.Measurement, tags: tags, start: start, every: every,
		gauges: map[string]*stats{}, last: map[string]lastValue{}}
}

func (w *window) add(s sample.Sample) {
	w.n++
	for k, v := range s.Fields {
		if f, ok := v.(float64); ok && !Counter(k) {
			g := w.gauges[k]
			if g == nil {
				g = &stats{min: f, max: f}
				w.gauges[k] = g
			}
			g.sum += f
			g.n++
			g.min, g.max = min(g.min, f), max(g.max, f)
			continue
		}
		// Samples can arrive out of order: the last value is the latest one.
		if l, ok := w.last[k]; !ok || !s.Time.Before(l.at) {
			w.last[k] = lastValue{s.Time, v}
		}
	}
}

func (w *window) point() sample.Sample {
	fields := make(map[string]any, 3*len(w.gauges)+len(w.last)+1)
	for k, g := range w.gauges {
		fields[k+"_mean"] = g.sum / float64(g.n)
		fields[k+"_min"] = g.min
		fields[k+"_max"] = g.max
	}
	for k, l := range w.last {
		fields[k] = l.v
	}
	fields[FieldSamples] = w.n
	return sample.Sample{Measurement: w.measurement, Tags: w.tags, Fields: fields, Time: w.start}
}

// Counter reports whether a field is an energy counter, whose window value
// is its last one (exact) rather than a mean.
func Counter(field string) bool {
	return strings.HasSuffix(field, "_wh") || strings.HasSuffix(field, "_kwh")
}

// Label is the agg tag's value for a window length: 10s, 1m, 15m, 1h.
func Label(every time.Duration) string {
	switch {
	case every%time.Hour == 0:
		return strings.TrimSuffix(every.String(), "0m0s")
	case every%time.Minute == 0:
		return strings.TrimSuffix(every.String(), "0s")
	}
	return every.String()
}
