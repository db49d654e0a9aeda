package mqtt

import (
	"hash/fnv"
	"sync"
)

// redeliveries remembers, per client id, the last QoS 1 messages the edge
// made durable, so that a device resending one after a lost PUBACK (same
// packet id, DUP flag set, same topic and payload) is acknowledged without
// a second row. Only DUP-flagged publishes are ever dropped: a packet id
// reused for a new message comes without DUP and is always stored.
//
// Where duplicates can still arise (docs/mqtt.md): a resend after more than
// dedupWindow newer messages of the same client, a resend after an edge
// restart (the window is in memory), and a device that resends without the
// DUP flag (a protocol violation).
type redeliveries struct {
	mu       sync.Mutex
	byClient map[string]*recent
	max      int // bound on remembered client ids
}

const dedupWindow = 64

type recent struct {
	ids  [dedupWindow]uint16
	sums [dedupWindow]uint64
	n    int // entries written so far (ring position = n % dedupWindow)
}

func newRedeliveries(maxClients int) *redeliveries {
	return &redeliveries{byClient: map[string]*recent{}, max: 2 * maxClients}
}

func messageSum(topic string, payload []byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte(topic))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum64()
}

// isRedelivery reports whether a DUP publish repeats a stored message.
func (r *redeliveries) isRedelivery(client string, id uint16, sum uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.byClient[client]
	if rc == nil {
		return false
	}
	for i := 0; i < min(rc.n, dedupWindow); i++ {
		if rc.ids[i] == id && rc.sums[i] == sum {
			return true
		}
	}
	return false
}

// stored records a message the buffer holds.
func (r *redeliveries) stored(client string, id uint16, sum uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.byClient[client]
	if rc == nil {
		if len(r.byClient) >= r.max {
			for k := range r.byClient { // evict one at random: bounded memory
				delete(r.byClient, k)
				break
			}
		}
		rc = &recent{}
		r.byClient[client] = rc
	}
	// A new message with a reused id replaces the old entry for that id.
	for i := 0; i < min(rc.n, dedupWindow); i++ {
		if rc.ids[i] == id {
			rc.sums[i] = sum
			return
		}
	}
	rc.ids[rc.n%dedupWindow], rc.sums[rc.n%dedupWindow] = id, sum
	rc.n++
}
