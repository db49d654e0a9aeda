package fleetsim

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/uplink"
)

// lineWriter renders one office's lines of a mix, byte for byte what
// sample.AppendLine writes (TestLineWriterWritesWhatSampleWrites): each
// series' measurement and tags once, its field keys once, only the values
// and the time per line. The generic encoder (tag and field maps, sorting,
// escaping per line) was a quarter of the fleet benchmarks' simulator CPU,
// spent on the box whose fleet and InfluxDB the benchmark measures.
type lineWriter struct {
	mix    Mix
	office string
	tags   []map[string]string // per series, for the generic path
	prefix [][]byte            // per series: measurement and tags, escaped
	keys   [][]string          // per series: field keys, sorted, learnt from its first line
	frags  [][][]byte          // per series and key: " key=" for the first, ",key=" after
}

func (m Mix) writer(office string, extra map[string]string) *lineWriter {
	w := &lineWriter{mix: m, office: office, tags: make([]map[string]string, len(m)), prefix: make([][]byte, len(m)),
		keys: make([][]string, len(m)), frags: make([][][]byte, len(m))}
	for i, s := range m {
		tags := map[string]string{sample.TagOffice: office, sample.TagDevice: s.Device}
		maps.Copy(tags, extra)
		w.tags[i] = tags
		// The prefix is what the encoder writes before a one-field probe
		// line's " x=1i <time>\n" (a time sample.Validate accepts: at the
		// epoch it refused every probe and no series took the fast path); a
		// series whose prefix cannot be had stays generic.
		line, err := sample.Sample{Measurement: s.Measurement, Tags: tags, Fields: map[string]any{"x": int64(1)}, Time: probeTime}.AppendLine(nil)
		if p, ok := strings.CutSuffix(string(line), " x=1i "+strconv.FormatInt(probeTime.UnixNano(), 10)+"\n"); err == nil && ok {
			w.prefix[i] = []byte(p)
		}
	}
	return w
}

var probeTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// appendDue appends the lines every series owes between from and to.
func (w *lineWriter) appendDue(dst []byte, r *rand.Rand, counts []int64, from, to time.Time) ([]byte, int, error) {
	lines := 0
	for i, s := range w.mix {
		// A series fires at multiples of its period since the epoch, so the
		// points of one office never collide and restarts do not shift them;
		// a window goes out its send delay later.
		var delay time.Duration
		if s.Window {
			delay = uplink.WindowSendDelay(w.office, s.Every)
		}
		first := from.Add(-delay).Truncate(s.Every)
		if first.Before(from.Add(-delay)) {
			first = first.Add(s.Every)
		}
		for at := first; at.Before(to.Add(-delay)); at = at.Add(s.Every) {
			fields := s.Fields(r, counts[i])
			counts[i]++
			var err error
			if dst, err = w.appendLine(dst, i, fields, at); err != nil {
				return dst, lines, err
			}
			lines++
		}
	}
	return dst, lines, nil
}

func (w *lineWriter) appendLine(dst []byte, i int, fields map[string]any, at time.Time) ([]byte, error) {
	if w.prefix[i] != nil && w.keys[i] == nil {
		w.learn(i, fields)
	}
	if out, ok := w.appendFast(dst, i, fields, at); ok {
		return out, nil
	}
	s := w.mix[i]
	return sample.Sample{Measurement: s.Measurement, Tags: w.tags[i], Fields: fields, Time: at}.AppendLine(dst)
}

// learn keeps series i's field keys when none needs escaping.
func (w *lineWriter) learn(i int, fields map[string]any) {
	keys := slices.Sorted(maps.Keys(fields))
	frags := make([][]byte, len(keys))
	for k, key := range keys {
		if key == "" || strings.ContainsAny(key, ",= \\\"\n\r\t") {
			w.prefix[i] = nil // the generic path escapes it
			return
		}
		sep := ","
		if k == 0 {
			sep = " "
		}
		frags[k] = []byte(sep + key + "=")
	}
	w.keys[i], w.frags[i] = keys, frags
}

// appendFast renders the line from series i's prefix and keys, or reports
// false (dst untouched) when the fields are not the learnt ones or a value
// is not one the fast path writes: the generic path then decides.
func (w *lineWriter) appendFast(dst []byte, i int, fields map[string]any, at time.Time) ([]byte, bool) {
	keys := w.keys[i]
	if w.prefix[i] == nil || len(keys) != len(fields) {
		return dst, false
	}
	n := len(dst)
	dst = append(dst, w.prefix[i]...)
	for k, key := range keys {
		v, ok := fields[key]
		if !ok {
			return dst[:n], false
		}
		var val lineprotocol.Value
		switch x := v.(type) {
		case float64:
			if val, ok = lineprotocol.FloatValue(x); !ok {
				return dst[:n], false // NaN or ±Inf: the generic path says why
			}
		case int64:
			val = lineprotocol.IntValue(x)
		case bool:
			val = lineprotocol.BoolValue(x)
		case string:
			if val, ok = lineprotocol.StringValue(x); !ok {
				return dst[:n], false
			}
		default:
			return dst[:n], false
		}
		dst = append(dst, w.frags[i][k]...)
		dst = val.AppendBytes(dst)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, at.UnixNano(), 10)
	return append(dst, '\n'), true
}
