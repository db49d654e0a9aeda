package buffer

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// request is one Append/AppendLines call or one Delete, handed to the owner
// goroutine and completed by closing done.
type request struct {
	lines *lineBuf // nil for a delete
	first uint64   // delete range, inclusive
	last  uint64
	n     int // deleted entries (delete)
	err   error
	done  chan struct{}
}

// run is the owner goroutine: the only writer of bbolt and of b.st.
func (b *Buffer) run() {
	defer close(b.ownerDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var lastCommit time.Time
	for {
		b.mu.Lock()
		closing := b.closed
		work := len(b.queue) > 0 || len(b.drops) > 0
		wait := time.Until(lastCommit.Add(b.opt.CommitInterval))
		if work && (closing || b.queuedN >= b.opt.CommitMaxSamples || wait <= 0) {
			batch, drops := b.queue, b.drops
			b.queue, b.queuedN, b.drops = nil, 0, map[string]uint64{}
			b.inflight = drops
			b.mu.Unlock()
			lastCommit = time.Now()
			b.commit(batch, drops)
			continue
		}
		b.mu.Unlock()
		if closing {
			return
		}
		if work {
			timer.Reset(wait)
		}
		select {
		case <-b.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// txResult is what one transaction changed, applied to b.st only after the
// commit succeeded.
type txResult struct {
	added, removed      int64 // entries
	addedB, removedB    int64 // logical bytes
	head                uint64
	oldest              uint64
	oldestTime          time.Time
	empty               bool
	dropped             map[string]uint64 // new totals for the reasons touched
	fullDrops, appended uint64
	limit               int64  // bound on logical bytes for this commit
	fullReason          string // drop reason when over limit
}

// commit writes one batch in one transaction: acked deletes first (they free
// room), then the appends, dropping the oldest entries when over MaxBytes.
func (b *Buffer) commit(batch []*request, drops map[string]uint64) {
	b.stMu.RLock()
	cur := b.st
	b.stMu.RUnlock()

	var appendedN uint64
	for _, r := range batch {
		if r.lines != nil {
			appendedN += uint64(r.lines.count())
		}
	}
	var res txResult
	limit, reason := b.opt.MaxBytes, DropBufferFull
	if appendedN > 0 {
		limit, reason = b.limit(cur)
	}
	err := b.reserveSeqs(cur.head, int(appendedN))
	if err == nil {
		err = b.db.Update(func(tx *bolt.Tx) error {
			res = txResult{head: cur.head, dropped: map[string]uint64{}, limit: limit, fullReason: reason}
			return b.writeTx(tx, cur, batch, drops, &res)
		})
	}
	if err != nil {
		err = fmt.Errorf("buffer: commit: %w", err)
		b.log.Error("buffer commit failed; the callers get the error", "err", err, "samples", appendedN)
		b.mu.Lock()
		for reason, n := range drops { // retried with the next commit
			b.drops[reason] += n
		}
		b.inflight = nil
		b.mu.Unlock()
		b.stMu.Lock()
		b.st.refused += appendedN
		b.stMu.Unlock()
	} else {
		b.apply(&res)
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
	if err == nil && res.added > 0 {
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
	if err == nil && res.fullDrops > 0 {
		b.log.Warn("buffer full: dropped oldest samples", "dropped", res.fullDrops, "reason", res.fullReason,
			"limit_bytes", res.limit, "max_bytes", b.opt.MaxBytes)
	}
}

func (b *Buffer) apply(res *txResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stMu.Lock()
	defer b.stMu.Unlock()
	st := &b.st
	st.count += res.added - res.removed
	st.bytes += res.addedB - res.removedB
	st.head = res.head
	st.oldest, st.oldestTime = res.oldest, res.oldestTime
	if res.empty {
		st.oldest, st.oldestTime = 0, time.Time{}
	}
	maps.Copy(st.dropped, res.dropped)
	st.appended += res.appended
	st.commits++
	b.inflight = nil
}

func (b *Buffer) writeTx(tx *bolt.Tx, cur state, batch []*request, drops map[string]uint64, res *txResult) error {
	data, meta := tx.Bucket(bucketData), tx.Bucket(bucketMeta)
	// Keys only ever grow, so full pages are never touched again: pack them.
	data.FillPercent = 1.0
	// Oldest range first: deleteRange walks back from a range's end, and
	// the leaves a delete empties then lie behind the walks still to come,
	// never in their way (acks of a window arrive in any order).
	var dels []*request
	for _, r := range batch {
		if r.lines == nil {
			dels = append(dels, r)
		}
	}
	slices.SortFunc(dels, func(a, b *request) int { return cmp.Compare(a.first, b.first) })
	for _, r := range dels {
		n, nb, err := deleteRange(data, r.first, r.last)
		if err != nil {
			return err
		}
		r.n = n
		res.removed += int64(n)
		res.removedB += nb
	}
	if err := b.appendBatch(data, cur, batch, res); err != nil {
		return err
	}
	if res.fullDrops > 0 {
		drops = maps.Clone(drops)
		drops[res.fullReason] += res.fullDrops
	}
	// Count and bytes live beside the data, in the same transaction, so
	// Open need not read every entry to rebuild them: on an eMMC edge box
	// that scan took seconds per restart for a full buffer.
	for key, val := range map[string]uint64{
		string(keyNextSeq): res.head,
		string(keyCount):   uint64(cur.count + res.added - res.removed),
		string(keyBytes):   uint64(cur.bytes + res.addedB - res.removedB),
	} {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], val)
		if err := meta.Put([]byte(key), v[:]); err != nil {
			return err
		}
	}
	var v [8]byte
	for reason, n := range drops {
		total := cur.dropped[reason] + n
		binary.BigEndian.PutUint64(v[:], total)
		if err := meta.Put([]byte(dropKeyPrefix+reason), v[:]); err != nil {
			return err
		}
		res.dropped[reason] = total
	}
	k, first := data.Cursor().First()
	res.empty = k == nil
	if k != nil {
		res.oldest, res.oldestTime = binary.BigEndian.Uint64(k), lineTime(first)
	}
	return nil
}

// appendBatch stores the queued lines under consecutive sequence numbers. When
// they do not fit under the limit (MaxBytes, or less when the disk is short)
// it drops the oldest stored entries, and if the batch alone is larger, its
// own oldest lines.
func (b *Buffer) appendBatch(data *bolt.Bucket, cur state, batch []*request, res *txResult) error {
	var newB int64
	for _, r := range batch {
		if r.lines != nil {
			newB += r.lines.size()
		}
	}
	if newB == 0 {
		return nil
	}
	over := cur.bytes - res.removedB + newB - res.limit
	if over > 0 {
		n, nb, err := dropOldest(data, over)
		if err != nil {
			return err
		}
		res.removed += int64(n)
		res.removedB += nb
		res.fullDrops += uint64(n)
		over -= nb
	}
	var key [8]byte
	for _, r := range batch {
		if r.lines == nil {
			continue
		}
		for i := range r.lines.count() {
			line := r.lines.line(i)
			seq := res.head
			res.head++
			if over > 0 { // only when one batch exceeds MaxBytes on its own
				over -= entrySize(line)
				res.fullDrops++
				continue
			}
			binary.BigEndian.PutUint64(key[:], seq)
			if err := data.Put(key[:], line); err != nil {
				return fmt.Errorf("put seq %d: %w", seq, err)
			}
			res.added++
			res.addedB += entrySize(line)
			res.appended++
		}
	}
	return nil
}

// dropOldest deletes entries from the front until at least need bytes are freed
// or the bucket is empty.
func dropOldest(data *bolt.Bucket, need int64) (n int, freed int64, err error) {
	var seqs []uint64
	c := data.Cursor()
	for k, v := c.First(); k != nil && freed < need; k, v = c.Next() {
		seqs = append(seqs, binary.BigEndian.Uint64(k))
		freed += entrySize(v)
	}
	n, err = deleteKeys(data, seqs)
	return n, freed, err
}

// deleteRange deletes the entries first..last in one backward walk: the
// cursor deletes the newest entry of the range and steps to the one before,
// so no key is looked up from the root again (a Seek per key was a quarter
// of the edge's CPU in a backlog drain) and each delete takes the last entry
// of its leaf, which shifts nothing. Going back is safe where going forward
// is not: a delete moves only the entries after it, which the walk has left.
func deleteRange(data *bolt.Bucket, first, last uint64) (n int, freed int64, err error) {
	var key [8]byte
	c := data.Cursor()
	var k, v []byte
	if last == math.MaxUint64 {
		k, v = c.Last()
	} else {
		binary.BigEndian.PutUint64(key[:], last+1)
		if k, v = c.Seek(key[:]); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	below := last + 1 // every entry in below..last is gone
	for ; k != nil; k, v = c.Prev() {
		seq := binary.BigEndian.Uint64(k)
		if seq < first {
			return n, freed, nil
		}
		freed += entrySize(v)
		if err := c.Delete(); err != nil {
			return n, freed, fmt.Errorf("delete entry %d: %w", seq, err)
		}
		n++
		below = seq
	}
	// Prev also stops at a leaf an earlier delete of this transaction
	// emptied (bbolt drops it only at commit): the rest, if any, the old way.
	if below == first {
		return n, freed, nil
	}
	var seqs []uint64
	binary.BigEndian.PutUint64(key[:], first)
	for k, v := c.Seek(key[:]); k != nil && binary.BigEndian.Uint64(k) < below; k, v = c.Next() {
		seqs = append(seqs, binary.BigEndian.Uint64(k))
		freed += entrySize(v)
	}
	m, err := deleteKeys(data, seqs)
	return n + m, freed, err
}

// deleteKeys deletes after the walk that found the keys: a cursor that
// deletes as it goes must Seek again after each delete (Next skips), and
// bbolt keeps emptied leaves until the commit, so every such Seek stepped
// over all the leaves emptied so far in the transaction: quadratic in the
// range, and half the edge's CPU in a backlog drain. Bucket.Delete descends
// straight to each key instead. Sequence numbers, not key slices, are
// collected: no pointers for the garbage collector to chase. Newest first:
// each delete then takes the last entry of its leaf, where deleting the
// first shifted every entry after it (13 % of the edge's drain CPU).
func deleteKeys(data *bolt.Bucket, seqs []uint64) (int, error) {
	var key [8]byte
	for i := len(seqs) - 1; i >= 0; i-- {
		binary.BigEndian.PutUint64(key[:], seqs[i])
		if err := data.Delete(key[:]); err != nil {
			return len(seqs) - 1 - i, fmt.Errorf("delete entry %d: %w", seqs[i], err)
		}
	}
	return len(seqs), nil
}
