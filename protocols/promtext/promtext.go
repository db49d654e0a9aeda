// Package promtext writes the Prometheus text exposition format. Edge boxes are
// small and we expose a few dozen series, so a page of code beats pulling the
// Prometheus client library and its dependency tree onto every office.
package promtext

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Writer emits metrics; HELP and TYPE are written once per metric name.
type Writer struct {
	w    io.Writer
	seen map[string]bool
	err  error
}

// New returns a Writer on w.
func New(w io.Writer) *Writer { return &Writer{w: w, seen: map[string]bool{}} }

// Gauge writes one gauge sample. labels are key, value pairs.
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.write(name, help, "gauge", v, labels)
}

// Counter writes one counter sample. labels are key, value pairs.
func (w *Writer) Counter(name, help string, v float64, labels ...string) {
	w.write(name, help, "counter", v, labels)
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

func (w *Writer) write(name, help, typ string, v float64, labels []string) {
	if w.err != nil {
		return
	}
	var b strings.Builder
	if !w.seen[name] {
		w.seen[name] = true
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(escape(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatValue(v))
	b.WriteByte('\n')
	_, w.err = io.WriteString(w.w, b.String())
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
