// Package buffer is the office's durable sample buffer: the durable truth of an
// office. A sample is acknowledged to nobody until it is committed to bbolt, and
// it leaves bbolt only when the uplink deletes it after the fleet acknowledged it.
//
// Why group commit: an fsync costs milliseconds on eMMC flash and wears it, while
// a driver produces a handful of samples per poll. Appenders therefore queue their
// already-encoded lines for one owner goroutine, which writes everything queued in
// a single bbolt transaction (one fsync) and then wakes all of them. Commits are
// rate limited to one per CommitInterval: the first sample after a quiet period is
// committed at once, later ones wait for the window to close, unless
// CommitMaxSamples are queued, in which case the commit starts early.
//
// Durability window: Append returns only after its samples are durable, so a
// caller never believes in a sample that a crash can take away. What a kill -9 or
// power cut can lose is what is still queued: at most one CommitInterval (plus
// the duration of the commit in flight) of samples, none of them acknowledged.
//
// Drop policy: the stored data is bounded by MaxBytes (logical bytes, see
// entryOverhead). A commit that would exceed it first deletes the oldest stored
// entries, in the same transaction, and counts them as dropped with reason
// "buffer_full": during a long uplink outage the freshest data is the most useful,
// and an office must never stop measuring because its disk filled up. Invalid
// samples are never stored and are counted with reason "invalid". Drop counters
// live in the meta bucket, written in the same transactions, so they survive
// restarts: every sample that reached the buffer is either delivered or counted.
package buffer

import (
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Drop reasons counted by the buffer itself. Others (e.g. "fleet_rejected") are
// recorded by the uplink through CountDrop.
const (
	DropBufferFull = "buffer_full"
	DropInvalid    = "invalid"
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("buffer: closed")

// entryOverhead is what one entry costs bbolt beyond its key and value: the
// 16-byte leaf element header (flags, pos, ksize, vsize). Page headers and page
// slack come on top; README.md gives the measured bytes per sample on disk.
const entryOverhead = 16

// Options tune a Buffer; zero values take the defaults.
type Options struct {
	MaxBytes         int64         // bound on stored data, default 512 MiB
	CommitInterval   time.Duration // group-commit window, default 200ms
	CommitMaxSamples int           // commit early when this many are queued, default 20000
	NoSync           bool          // skip fsync: benchmarks/tests only, loses durability
	// DiskReserve is free disk space the buffer leaves alone (default 24 MiB,
	// see defaultDiskReserve): the bound follows the real free space.
	DiskReserve int64
	Logger      *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 512 << 20
	}
	if o.DiskReserve <= 0 {
		o.DiskReserve = defaultDiskReserve
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 200 * time.Millisecond
	}
	if o.CommitMaxSamples <= 0 {
		o.CommitMaxSamples = 20000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats is a snapshot for metrics and the health page.
type Stats struct {
	Count      int64             `json:"samples"`
	Bytes      int64             `json:"bytes"` // logical bytes: keys + values + entryOverhead per entry
	MaxBytes   int64             `json:"max_bytes"`
	Limit      int64             `json:"limit_bytes"`          // the bound in force: MaxBytes, or less when the disk is short
	DiskFree   int64             `json:"disk_free_bytes"`      // free space on the buffer's filesystem at the last commit
	OldestTime time.Time         `json:"oldest_time,omitzero"` // sample time of the oldest stored sample
	Dropped    map[string]uint64 `json:"dropped"`              // by reason, persisted across restarts
	Appended   uint64            `json:"appended"`             // samples stored since Open
	Commits    uint64            `json:"commits"`              // transactions since Open
	Recovered  int               `json:"recovered"`            // corrupt files moved aside by Open
	// Refused counts samples whose commit failed (disk error). Their Append
	// returned the error, so the caller still has them (a device redelivers
	// what it got no PUBACK for): refused, not dropped.
	Refused uint64 `json:"refused"`
}

// Buffer is a durable FIFO of line-protocol lines keyed by sequence number.
// All methods are safe for concurrent use.
type Buffer struct {
	opt  Options
	log  *slog.Logger
	db   *bolt.DB
	path string

	mu        sync.Mutex // guards the fields below up to wake
	queue     []*request
	queuedN   int               // samples in queue
	drops     map[string]uint64 // counted, not yet taken by a commit
	inflight  map[string]uint64 // taken by the commit in progress, not yet in st
	closed    bool
	wake      chan struct{} // cap 1: tells the owner goroutine there is work
	ownerDone chan struct{}
	closeOnce sync.Once
	closeErr  error

	notify chan struct{}

	seqMark uint64 // sequence numbers below it are reserved (seqmark.go); owner goroutine only

	stMu sync.RWMutex
	st   state
}

// state is the in-memory view of what is committed; only the owner goroutine
// writes it (and Open before the owner starts).
type state struct {
	count, bytes int64
	head         uint64 // next seq to assign
	oldest       uint64 // smallest stored seq, valid when count > 0
	oldestTime   time.Time
	dropped      map[string]uint64
	appended     uint64
	commits      uint64
	recovered    int
	refused      uint64
	diskFree     int64
	limit        int64
}

// Head returns the next sequence number that will be assigned; every stored
// sequence number is smaller.
func (b *Buffer) Head() uint64 {
	b.stMu.RLock()
	defer b.stMu.RUnlock()
	return b.st.head
}

// Oldest returns the smallest stored sequence number, false when empty.
func (b *Buffer) Oldest() (uint64, bool) {
	b.stMu.RLock()
	defer b.stMu.RUnlock()
	return b.st.oldest, b.st.count > 0
}

// Notify receives after each commit that added data (the channel has capacity 1
// and sends never block, so one receive may stand for several commits).
func (b *Buffer) Notify() <-chan struct{} { return b.notify }

// Stats returns a snapshot; Dropped is a copy the caller may keep and includes
// drops counted but not yet persisted.
func (b *Buffer) Stats() Stats {
	// Lock order mu then stMu, as in apply, so a drop is never seen twice or missed.
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stMu.RLock()
	defer b.stMu.RUnlock()
	s := Stats{
		Count:      b.st.count,
		Bytes:      b.st.bytes,
		MaxBytes:   b.opt.MaxBytes,
		OldestTime: b.st.oldestTime,
		Dropped:    maps.Clone(b.st.dropped),
		Appended:   b.st.appended,
		Commits:    b.st.commits,
		Recovered:  b.st.recovered,
		Refused:    b.st.refused,
		Limit:      b.st.limit,
		DiskFree:   b.st.diskFree,
	}
	if s.Dropped == nil {
		s.Dropped = map[string]uint64{}
	}
	for _, pending := range []map[string]uint64{b.drops, b.inflight} {
		for reason, n := range pending {
			s.Dropped[reason] += n
		}
	}
	return s
}

// CountDrop records n samples dropped for reason (e.g. "fleet_rejected"). The
// counter shows in Stats at once and is persisted by the next commit, which
// this call schedules (within CommitInterval); it never blocks on I/O.
func (b *Buffer) CountDrop(reason string, n uint64) {
	if n == 0 || reason == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.drops[reason] += n
	b.signal()
}

// Close commits what is queued, then closes bbolt. It is idempotent; calls
// after it return ErrClosed.
func (b *Buffer) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.signal()
		b.mu.Unlock()
		<-b.ownerDone
		b.closeErr = b.db.Close()
	})
	return b.closeErr
}

// signal wakes the owner goroutine; callers hold b.mu.
func (b *Buffer) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
