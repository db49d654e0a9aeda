// Package aggregate turns an office's raw samples into one point per series
// and window (10 s, 1 min, …) for the measurements an operator chose, so an
// office can send the fleet a fraction of its lines. The rules never see
// this: they read the raw process image before the sink aggregates.
//
// A window's point carries, per field:
//   - float gauges: <field>_mean, <field>_min, <field>_max;
//   - energy counters (fields ending _wh or _kwh) and every non-float field:
//     <field>, the window's last value, which is exact for a counter;
//   - agg_samples: how many raw samples the window folded;
//
// and the tag agg=<every> (e.g. agg=10s), so no aggregated point can be
// mistaken for, or overwrite, a raw one. Its time is the window's start.
//
// Open windows are held in memory: a clean stop flushes them, a power cut
// loses at most one window of the aggregated measurements, plus the part of
// the next one the office waits before sending (SetSendDelay; raw ones are
// untouched). A sample for a window already sent (a device replaying old
// data) is passed through raw rather than sending a second, overwriting
// point for that window.
package aggregate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// Rule aggregates one measurement, on every device or on one.
type Rule struct {
	Measurement string        `yaml:"measurement"`
	Device      string        `yaml:"device"` // "" = every device
	Every       time.Duration `yaml:"every"`
}

// TagAgg marks an aggregated point with its window length.
const TagAgg = "agg"

// FieldSamples is the number of raw samples in an aggregated point.
const FieldSamples = "agg_samples"

// Raw is the measurement that is never aggregated: events each matter.
const Raw = "events"

// Validate names what is wrong with rules, keyed by its place in the list.
func Validate(rules []Rule) error {
	var errs []error
	seen := map[[2]string]bool{}
	for i, r := range rules {
		key := fmt.Sprintf("aggregate[%d]", i)
		switch {
		case r.Measurement == "":
			errs = append(errs, fmt.Errorf("%s.measurement: must not be empty", key))
		case r.Measurement == Raw:
			errs = append(errs, fmt.Errorf("%s.measurement: %s are always sent raw", key, Raw))
		}
		if r.Every < time.Second || r.Every > time.Hour || time.Hour%r.Every != 0 {
			errs = append(errs, fmt.Errorf("%s.every: want a divisor of 1h from 1s (10s, 1m, …), got %s", key, r.Every))
		}
		k := [2]string{r.Measurement, r.Device}
		if seen[k] {
			errs = append(errs, fmt.Errorf("%s: %s/%q listed twice", key, r.Measurement, r.Device))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

// Counts say what the aggregator did, for the edge's metrics.
type Counts struct {
	Folded uint64 // raw samples folded into windows
	Points uint64 // aggregated points emitted
	Late   uint64 // samples for a window already emitted, passed through raw
}

// Aggregator folds samples into windows. It is safe for concurrent use;
// no lock is held while the caller writes what it returns.
type Aggregator struct {
	mu     sync.Mutex
	delay  func(every time.Duration) time.Duration // extra wait before a window is due
	rules  map[[2]string]time.Duration             // (measurement, device) → every; device "" = all
	open   map[windowKey]*window
	closed map[string]time.Time // series → start of the last window emitted
	counts Counts
}

type windowKey struct {
	series string
	start  time.Time
}

// New returns an aggregator applying rules (already validated).
func New(rules []Rule) *Aggregator {
	a := &Aggregator{open: map[windowKey]*window{}, closed: map[string]time.Time{}}
	a.SetRules(rules)
	return a
}

// SetSendDelay makes a finished window wait delay(every) more before it is
// due: the office's share of the fleet's sending (uplink.WindowSendDelay).
func (a *Aggregator) SetSendDelay(delay func(every time.Duration) time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delay = delay
}

// SetRules replaces the rules at run time. Windows already open finish
// under the rule that opened them.
func (a *Aggregator) SetRules(rules []Rule) {
	m := make(map[[2]string]time.Duration, len(rules))
	for _, r := range rules {
		m[[2]string{r.Measurement, r.Device}] = r.Every
	}
	a.mu.Lock()
	a.rules = m
	a.mu.Unlock()
}

// every is the window for s, 0 when s goes raw.
func (a *Aggregator) every(s sample.Sample) time.Duration {
	if d, ok := a.rules[[2]string{s.Measurement, s.Tags[sample.TagDevice]}]; ok {
		return d
	}
	return a.rules[[2]string{s.Measurement, ""}]
}

// Add folds the samples that are aggregated and returns the rest, to be
// written as they are.
func (a *Aggregator) Add(samples []sample.Sample) []sample.Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.rules) == 0 && len(a.open) == 0 {
		return samples
	}
	raw := samples[:0:0]
	for _, s := range samples {
		every := a.every(s)
		if every == 0 || s.Measurement == Raw {
			raw = append(raw, s)
			continue
		}
		series := seriesKey(s, every)
		start := s.Time.Truncate(every)
		if last, ok := a.closed[series]; ok && !start.After(last) {
			a.counts.Late++
			raw = append(raw, s)
			continue
		}
		k := windowKey{series, start}
		w := a.open[k]
		if w == nil {
			w = newWindow(s, every, start)
			a.open[k] = w
		}
		w.add(s)
		a.counts.Folded++
	}
	return raw
}

// Due returns the points of the windows that ended at least grace (and the
// send delay) before now (grace lets a device's slightly late sample still join its window);
// all of them when now is the zero time (a clean stop).
func (a *Aggregator) Due(now time.Time, grace time.Duration) []sample.Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []sample.Sample
	for k, w := range a.open {
		wait := grace
		if a.delay != nil {
			wait += a.delay(w.every)
		}
		if !now.IsZero() && w.start.Add(w.every+wait).After(now) {
			continue
		}
		out = append(out, w.point())
		delete(a.open, k)
		if last, ok := a.closed[k.series]; !ok || w.start.After(last) {
			a.closed[k.series] = w.start
		}
	}
	a.counts.Points += uint64(len(out))
	// Series quiet for two hours are forgotten, so a churn of devices or tag
	// values cannot grow this map without bound. The price: a replay of data
	// older than that would open its window again (documented).
	for series, last := range a.closed {
		if !now.IsZero() && now.Sub(last) > 2*time.Hour {
			delete(a.closed, series)
		}
	}
	slices.SortFunc(out, func(x, y sample.Sample) int { return x.Time.Compare(y.Time) })
	return out
}

// Counts returns the counters so far.
func (a *Aggregator) Counts() Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}

// seriesKey identifies a series and its window length: measurement and
// sorted tags, as InfluxDB does.
func seriesKey(s sample.Sample, every time.Duration) string {
	keys := make([]string, 0, len(s.Tags))
	for k := range s.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(s.Measurement)
	for _, k := range keys {
		b.WriteString("," + k + "=" + s.Tags[k])
	}
	b.WriteString("|" + every.String())
	return b.String()
}
