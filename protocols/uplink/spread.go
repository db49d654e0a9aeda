package uplink

import (
	"hash/fnv"
	"time"
)

// WindowSendDelay is how long after its end (and the edge's grace for late
// samples) an office sends an aggregated window. Windows are aligned to the
// wall clock, so without it every office of the fleet would send its 1 min
// windows in the same second: 7,000 offices' sensors at once, queueing
// behind each other at the fleet and InfluxDB. Each office waits its own
// share of half a window, derived from its id (stable across restarts):
// the fleet sees a steady flow instead of a burst, and a power cut loses at
// most one window plus that share of the next.
func WindowSendDelay(office string, every time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(office))
	// FNV alone leaves ids that differ in their last digit close together
	// in the high bits; splitmix64's finaliser spreads them.
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	share := float64(x>>11) / float64(1<<53) // [0, 1)
	return time.Duration(share * float64(every/2))
}
