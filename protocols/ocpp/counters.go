package ocpp

import (
	"maps"
	"sync"
	"time"
)

// counters are per-charger health counters (frames refused, replaced
// connections, ...) plus the last time a frame arrived.
type counters struct {
	mu   sync.Mutex
	byID map[string]map[string]uint64
	last map[string]time.Time
	// refused counts connections refused before authentication, per reason
	// only: keyed by the claimed id, anyone could grow the map without bound.
	refused map[string]uint64
}

func newCounters() *counters {
	return &counters{byID: map[string]map[string]uint64{}, last: map[string]time.Time{}, refused: map[string]uint64{}}
}

func (c *counters) refuse(reason string) {
	c.mu.Lock()
	c.refused[reason]++
	c.mu.Unlock()
}

func (c *counters) refusals() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.refused)
}

func (c *counters) inc(id, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.byID[id]
	if m == nil {
		m = map[string]uint64{}
		c.byID[id] = m
	}
	m[name]++
}

func (c *counters) seen(id string) {
	c.mu.Lock()
	c.last[id] = time.Now()
	c.mu.Unlock()
}

func (c *counters) lastSeen(id string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[id]
}

func (c *counters) snapshot(id string) map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byID[id])
}

func (c *counters) get(id, name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id][name]
}

var requestSeq struct {
	sync.Mutex
	n uint64
}

// next returns a process-wide increasing id (2.0.1 remoteStartId).
func (c *counters) next() uint64 {
	requestSeq.Lock()
	defer requestSeq.Unlock()
	requestSeq.n++
	return requestSeq.n
}
