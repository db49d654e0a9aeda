package fleetsim

import (
	"math"
	"sync"
	"time"
)

// latencies is a histogram of ack latencies with buckets 5 % wide, so
// Report costs the same at the end of a run as at its start. Keeping every
// latency and sorting them on each Report made a benchmark's 10 Hz polling
// sort half a million durations a tenth of a second: a fifth of a core
// taken from the fleet and InfluxDB it was measuring.
type latencies struct {
	mu     sync.Mutex
	counts [latBuckets]int64
	n      int64
	max    time.Duration
}

const (
	latMin     = 100 * time.Microsecond // the first bucket holds everything up to here
	latGrowth  = 1.05
	latBuckets = 400 // up to 100 µs × 1.05^399 ≈ 5.6 h
)

func latBucket(d time.Duration) int {
	if d <= latMin {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(latMin)) / math.Log(latGrowth)))
	return min(i, latBuckets-1)
}

// latUpper is bucket i's upper bound: a percentile is reported as the bound
// of the bucket it falls in, at most 5 % above the true value.
func latUpper(i int) time.Duration {
	return time.Duration(float64(latMin) * math.Pow(latGrowth, float64(i)))
}

func (h *latencies) add(d time.Duration) {
	h.mu.Lock()
	h.counts[latBucket(d)]++
	h.n++
	h.max = max(h.max, d)
	h.mu.Unlock()
}

func (h *latencies) reset() {
	h.mu.Lock()
	h.counts, h.n, h.max = [latBuckets]int64{}, 0, 0
	h.mu.Unlock()
}

// summary returns the count, p50, p99 and max (the p-th latency in order,
// as a sorted slice indexed at n·p would give, rounded up to its bucket).
func (h *latencies) summary() (n int64, p50, p99, maxD time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0, 0, 0, 0
	}
	at := func(rank int64) time.Duration {
		var seen int64
		for i, c := range h.counts {
			if seen += c; seen > rank {
				return min(latUpper(i), h.max)
			}
		}
		return h.max
	}
	return h.n, at(h.n / 2), at(h.n * 99 / 100), h.max
}
