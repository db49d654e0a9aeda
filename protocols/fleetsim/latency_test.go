package fleetsim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestLatencySummaryMatchesSortedLatencies: the histogram's percentiles are
// the sorted latencies' (n/2-th and n·99/100-th), at most 5 % above them and
// never below, and its max is exact.
func TestLatencySummaryMatchesSortedLatencies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 99, 1000, 54321} {
		var h latencies
		all := make([]time.Duration, n)
		for i := range all {
			all[i] = time.Duration(r.ExpFloat64() * float64(200*time.Millisecond))
			if i%97 == 0 {
				all[i] = time.Duration(r.IntN(int(latMin))) // under the first bucket's bound
			}
			h.add(all[i])
		}
		slices.Sort(all)
		got, p50, p99, mx := h.summary()
		if got != int64(n) || mx != all[n-1] {
			t.Fatalf("n=%d: count %d max %s, want %d and %s", n, got, mx, n, all[n-1])
		}
		for _, c := range []struct {
			name      string
			got, want time.Duration
		}{{"p50", p50, all[n/2]}, {"p99", p99, all[n*99/100]}} {
			if c.got < c.want || float64(c.got) > 1.05*float64(c.want)+float64(latMin) {
				t.Errorf("n=%d %s: %s, sorted gives %s", n, c.name, c.got, c.want)
			}
		}
	}
	var h latencies
	h.add(time.Second)
	h.reset()
	if n, _, _, _ := h.summary(); n != 0 {
		t.Fatalf("after reset: %d latencies", n)
	}
}
