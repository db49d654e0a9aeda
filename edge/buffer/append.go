package buffer

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/polis-edge/polis/protocols/sample"
)

// lineBuf holds the encoded lines of one call back to back, so an Append of n
// samples costs two pooled slices instead of n allocations.
type lineBuf struct {
	buf  []byte
	ends []int // line i is buf[ends[i-1]:ends[i]]
}

func (l *lineBuf) count() int { return len(l.ends) }

func (l *lineBuf) line(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.buf[start:l.ends[i]]
}

// size is the logical size the lines will take in the buffer.
func (l *lineBuf) size() int64 {
	return int64(len(l.buf) + len(l.ends)*(8+entryOverhead))
}

var linePool = sync.Pool{New: func() any { return new(lineBuf) }}

func getLineBuf() *lineBuf { return linePool.Get().(*lineBuf) }

func putLineBuf(l *lineBuf) {
	if cap(l.buf) > 16<<20 { // let one huge batch not pin its memory forever
		return
	}
	l.buf, l.ends = l.buf[:0], l.ends[:0]
	linePool.Put(l)
}

// Append encodes the samples as line protocol and stores them. It returns once
// the group commit holding them is durable. Invalid samples are not stored: they
// are counted as dropped ("invalid") and reported in an error wrapping
// sample.ErrInvalid, while the valid samples of the same call are stored.
//
// If ctx ends while waiting for the commit, Append returns ctx.Err(); the
// samples were already queued and are normally still committed, so a caller
// that retries may store duplicates (harmless: InfluxDB writes are idempotent).
func (b *Buffer) Append(ctx context.Context, samples ...sample.Sample) error {
	if len(samples) == 0 {
		return b.closedErr()
	}
	l := getLineBuf()
	l.ends = slices.Grow(l.ends, len(samples))
	var invalid int
	var firstErr error
	for i := range samples {
		var err error
		before := len(l.buf)
		l.buf, err = samples[i].AppendLine(l.buf)
		if err != nil {
			l.buf = l.buf[:before]
			if firstErr == nil {
				firstErr = err
			}
			invalid++
			continue
		}
		l.ends = append(l.ends, len(l.buf))
	}
	if invalid > 0 {
		b.CountDrop(DropInvalid, uint64(invalid))
		firstErr = fmt.Errorf("buffer: dropped %d of %d samples as invalid, first: %w", invalid, len(samples), firstErr)
	}
	if err := b.submit(ctx, l); err != nil {
		return err
	}
	return firstErr
}

// AppendLines stores already-encoded line-protocol lines (one line each, with
// or without the trailing newline; replay and benchmarks). Only the shape is
// checked, not the syntax: an empty line or one holding a newline is counted
// as invalid and not stored. The lines are copied; the caller keeps them.
func (b *Buffer) AppendLines(ctx context.Context, lines ...[]byte) error {
	if len(lines) == 0 {
		return b.closedErr()
	}
	l := getLineBuf()
	size := 0
	for _, line := range lines {
		size += len(line) + 1
	}
	l.buf = slices.Grow(l.buf, size)
	l.ends = slices.Grow(l.ends, len(lines))
	invalid := 0
	for _, line := range lines {
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if len(line) == 0 || bytes.IndexByte(line, '\n') >= 0 {
			invalid++
			continue
		}
		l.buf = append(append(l.buf, line...), '\n')
		l.ends = append(l.ends, len(l.buf))
	}
	var invalidErr error
	if invalid > 0 {
		b.CountDrop(DropInvalid, uint64(invalid))
		invalidErr = fmt.Errorf("buffer: dropped %d of %d lines as invalid (empty or multi-line): %w", invalid, len(lines), sample.ErrInvalid)
	}
	if err := b.submit(ctx, l); err != nil {
		return err
	}
	return invalidErr
}

// submit queues the lines for the next group commit and waits until it is
// durable. It owns l: l goes back to the pool only once the commit is done
// with it (bbolt references the values until the transaction commits).
func (b *Buffer) submit(ctx context.Context, l *lineBuf) error {
	if l.count() == 0 {
		putLineBuf(l)
		return b.closedErr()
	}
	if err := ctx.Err(); err != nil {
		putLineBuf(l)
		return err
	}
	r := &request{lines: l, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		putLineBuf(l)
		return ErrClosed
	}
	b.queue = append(b.queue, r)
	b.queuedN += l.count()
	if len(b.queue) == 1 || b.queuedN >= b.opt.CommitMaxSamples {
		b.signal()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		putLineBuf(l)
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("buffer: gave up waiting for the commit (samples queued, probably stored): %w", ctx.Err())
	}
}

func (b *Buffer) closedErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}
