package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// Read calls fn for the stored entries with seq >= from, in ascending order,
// and stops before exceeding maxCount entries or maxBytes bytes of lines (a
// limit <= 0 means none), but always hands out at least one entry if there is
// any. It returns the seq to continue from: one past the last entry handed out,
// or from when none was.
//
// line is one line-protocol line including its trailing '\n', exactly as
// sample.AppendLine wrote it, so lines concatenate into uplink.Batch.Lines.
// line points into bbolt's memory map and is valid only during fn: copy it
// (append to a batch buffer) to keep it. fn must not call methods that write
// (Append, Delete, Close): they wait for the commit that this read would block.
// If fn returns an error, Read stops and returns it, with next at the entry
// that failed.
func (b *Buffer) Read(from uint64, maxCount int, maxBytes int, fn func(seq uint64, line []byte) error) (next uint64, err error) {
	next = from
	err = b.db.View(func(tx *bolt.Tx) error {
		var start [8]byte
		binary.BigEndian.PutUint64(start[:], from)
		c := tx.Bucket(bucketData).Cursor()
		n, size := 0, 0
		for k, v := c.Seek(start[:]); k != nil; k, v = c.Next() {
			if n > 0 && ((maxCount > 0 && n >= maxCount) || (maxBytes > 0 && size+len(v) > maxBytes)) {
				return nil
			}
			seq := binary.BigEndian.Uint64(k)
			if err := fn(seq, v); err != nil {
				next = seq
				return err
			}
			next = seq + 1
			n++
			size += len(v)
		}
		return nil
	})
	if errors.Is(err, bolterr.ErrDatabaseNotOpen) {
		return from, ErrClosed
	}
	return next, err
}

// Delete removes the acknowledged entries first..last (inclusive) and returns
// how many it removed; seqs already gone are fine. It rides the next group
// commit like an append and returns when the deletion is durable. It used to
// force an immediate commit: with one ack per small batch that meant a commit
// and fsync per ack (18-28/s instead of the 5/s the window allows), each
// waking the uplink to send another small batch. A delete that waits for the
// window costs only that the acked samples stay on disk up to CommitInterval
// longer.
func (b *Buffer) Delete(first, last uint64) (int, error) {
	if first > last {
		return 0, fmt.Errorf("buffer: delete range %d..%d is reversed", first, last)
	}
	r := &request{first: first, last: last, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, ErrClosed
	}
	b.queue = append(b.queue, r)
	b.signal()
	b.mu.Unlock()
	<-r.done
	return r.n, r.err
}
