// Package promtext is how Polis code exposes Prometheus metrics: callers add
// gauges and counters in any order, and Flush writes them through
// github.com/prometheus/client_golang (registry and text encoder), which
// groups each family under one HELP/TYPE header, sorts, and refuses
// inconsistent families. The hand-written writer this replaces interleaved
// families when a caller looped per device (invalid exposition).
package promtext

import (
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// ContentType is the exposition format Flush writes.
var ContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// Writer collects metrics until Flush.
type Writer struct {
	w       io.Writer
	descs   map[string]*prometheus.Desc
	metrics []prometheus.Metric
	err     error
}

// New returns a Writer that will write to w.
func New(w io.Writer) *Writer { return &Writer{w: w, descs: map[string]*prometheus.Desc{}} }

// Gauge adds one gauge sample. labels are key, value pairs.
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.add(name, help, prometheus.GaugeValue, v, labels)
}

// Counter adds one counter sample. labels are key, value pairs.
func (w *Writer) Counter(name, help string, v float64, labels ...string) {
	w.add(name, help, prometheus.CounterValue, v, labels)
}

func (w *Writer) add(name, help string, typ prometheus.ValueType, v float64, labels []string) {
	if w.err != nil {
		return
	}
	if len(labels)%2 != 0 {
		w.err = fmt.Errorf("metric %s: odd label list %q", name, labels)
		return
	}
	keys := make([]string, 0, len(labels)/2)
	vals := make([]string, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		keys, vals = append(keys, labels[i]), append(vals, labels[i+1])
	}
	k := name + "\x00" + strings.Join(keys, "\x00")
	d, ok := w.descs[k]
	if !ok {
		d = prometheus.NewDesc(name, help, keys, nil)
		w.descs[k] = d
	}
	m, err := prometheus.NewConstMetric(d, typ, v, vals...)
	if err != nil {
		w.err = fmt.Errorf("metric %s: %w", name, err)
		return
	}
	w.metrics = append(w.metrics, m)
}

// collected hands the Writer's metrics to a registry. Describe sends
// nothing: an unchecked collector, since label values come and go.
type collected []prometheus.Metric

func (collected) Describe(chan<- *prometheus.Desc) {}

func (c collected) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// Flush gathers everything added and writes one valid exposition.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collected(w.metrics)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w.w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
