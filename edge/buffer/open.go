package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

var (
	bucketData = []byte("data")
	bucketMeta = []byte("meta")
	keyNextSeq = []byte("next_seq")
	keyCount   = []byte("count") // entries stored, kept by every commit
	keyBytes   = []byte("bytes") // their logical bytes
)

const dropKeyPrefix = "drop:"

// lockTimeout bounds the wait for bbolt's file lock: a second daemon on the same
// file is a configuration error to report, not corruption to move aside.
const lockTimeout = 5 * time.Second

// pageSize is fixed (not the OS page size) so files behave the same on every
// box. 4 KiB keeps small commits cheap on flash: an office commits a few hundred
// samples at a time, and every commit rewrites at least the last leaf, its
// parents and the meta leaf. 64 KiB pages gave ~1.5x bulk throughput but wrote
// 10x more per sample in 100-sample commits (BenchmarkSmallCommits, README.md).
const pageSize = 4096

// Open opens or creates the buffer at path, creating missing directories. A
// file bbolt cannot open or scan is renamed to <path>.corrupt-<timestamp>,
// logged as an error, and replaced by a fresh buffer (Stats().Recovered), so a
// damaged file never makes the daemon crash-loop. A file locked by another
// process is an error and is left alone.
func Open(path string, opt Options) (*Buffer, error) {
	opt = opt.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("buffer: create dir for %s: %w", path, err)
	}
	db, st, err := openDB(path, opt)
	if err != nil {
		if errors.Is(err, bolterr.ErrTimeout) {
			return nil, fmt.Errorf("buffer: %s is locked by another process: %w", path, err)
		}
		if fe := (*FormatError)(nil); errors.As(err, &fe) { // newer release's file: keep it as it is
			return nil, fmt.Errorf("buffer: %s: %w", path, err)
		}
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("buffer: open %s: %w (and moving it aside failed: %v)", path, err, rerr)
		}
		opt.Logger.Error("buffer file is corrupt or unreadable: moved aside, starting an empty buffer; samples in it are not delivered",
			"path", path, "moved_to", aside, "err", err)
		db, st, err = openDB(path, opt)
		if err != nil {
			return nil, fmt.Errorf("buffer: open fresh %s after moving the old one aside: %w", path, err)
		}
		st.recovered = 1
	}
	mark, err := readSeqMark(path)
	if err != nil {
		// A lost mark only matters after a recovery; the file's own head is
		// still right. Say so and go on.
		opt.Logger.Warn("buffer sequence mark unreadable; numbering continues from the file", "err", err)
	}
	if st.recovered > 0 && mark > st.head {
		opt.Logger.Warn("fresh buffer continues numbering above the old file's", "from", mark)
		st.head = mark
	}
	b := &Buffer{
		opt:       opt,
		log:       opt.Logger,
		db:        db,
		path:      path,
		drops:     map[string]uint64{},
		wake:      make(chan struct{}, 1),
		ownerDone: make(chan struct{}),
		notify:    make(chan struct{}, 1),
		st:        st,
		seqMark:   max(mark, st.head),
	}
	go b.run()
	return b, nil
}

// openDB opens bbolt and rebuilds the in-memory state by scanning every entry.
// The scan doubles as a corruption check: it touches every leaf page, and
// SetPanicOnFault turns a fault on a truncated mmap (SIGBUS) into a panic that
// is recovered here, like bbolt's own panics on garbled pages. After such a
// panic inside bolt.Open the file descriptor leaks; the caller moves the file
// aside, so its lock cannot get in the way of the fresh file.
func openDB(path string, opt Options) (db *bolt.DB, st state, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, fmt.Errorf("corrupt database: %v", r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: lockTimeout,
		NoSync:  opt.NoSync,
		// The free list is written with each commit (a page or two), so Open
		// reads it instead of walking every page of the file to rebuild it:
		// that walk mapped a 1,000,000-sample buffer whole (RSS 116 MB, 3.6 s
		// cold start; docs/benchmarks.md). A file written without it is
		// walked once and has it from its first commit on.
		NoFreelistSync: false,
		FreelistType:   bolt.FreelistMapType,
		PageSize:       pageSize,
		// Map the whole bounded file up front: a remap copies every dirty node
		// of the transaction in flight and blocks readers.
		InitialMmapSize: int(min(opt.MaxBytes+opt.MaxBytes/2, 1<<30)),
	})
	if err != nil {
		return nil, st, err
	}
	// Verify before anything writes: a corrupt file is kept as found.
	if err = verify(db); err != nil {
		_ = db.Close()
		return nil, st, err
	}
	if err = db.Update(func(tx *bolt.Tx) error { return loadState(tx, &st) }); err != nil {
		_ = db.Close()
		return nil, st, err
	}
	return db, st, nil
}

// verify walks every entry once, so a garbled page makes Open move the file
// aside instead of panicking later in the uplink's read (a crash loop), and
// then hands the pages the walk mapped back to the kernel: they stay in the
// page cache but leave the process's RSS, so a full buffer costs no memory
// while the office waits for the fleet (idle RSS ≤ 40 MB with 1,000,000
// samples; docs/benchmarks.md). Reads fault the pages they need back in.
func verify(db *bolt.DB) error {
	err := db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketData)
		if data == nil {
			return nil // a new file
		}
		return data.ForEach(func(k, _ []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("data key of %d bytes", len(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	fi, err := os.Stat(db.Path())
	if err != nil {
		return fmt.Errorf("stat %s: %w", db.Path(), err)
	}
	// The mapping is read-only and shared: dropping it loses nothing.
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, db.Info().Data, uintptr(fi.Size()), syscall.MADV_DONTNEED); errno != 0 {
		return fmt.Errorf("madvise: %w", errno)
	}
	return nil
}

func loadState(tx *bolt.Tx, st *state) error {
	if err := checkFormat(tx); err != nil {
		return err
	}
	data, err := tx.CreateBucketIfNotExists(bucketData)
	if err != nil {
		return err
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	st.head = 1 // seq 0 is never assigned, so Read(0, ...) means "from the start"
	st.dropped = map[string]uint64{}
	counted := 0
	err = meta.ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("meta key %q: value of %d bytes", k, len(v))
		}
		n := binary.BigEndian.Uint64(v)
		switch {
		case string(k) == string(keyNextSeq):
			st.head = max(st.head, n)
		case string(k) == string(keyCount):
			st.count, counted = int64(n), counted+1
		case string(k) == string(keyBytes):
			st.bytes, counted = int64(n), counted+1
		case strings.HasPrefix(string(k), dropKeyPrefix):
			st.dropped[strings.TrimPrefix(string(k), dropKeyPrefix)] = n
		}
		return nil
	})
	if err != nil {
		return err
	}
	if counted < 2 { // a file from before the counts were kept
		st.count, st.bytes = 0, 0
		if err := scanCounts(data, st); err != nil {
			return err
		}
	}
	if k, first := data.Cursor().First(); k != nil {
		if len(k) != 8 {
			return fmt.Errorf("data key of %d bytes", len(k))
		}
		st.oldest, st.oldestTime = binary.BigEndian.Uint64(k), lineTime(first)
		last, _ := data.Cursor().Last()
		st.head = max(st.head, binary.BigEndian.Uint64(last)+1)
	}
	return nil
}

// scanCounts rebuilds count and bytes by reading every entry.
func scanCounts(data *bolt.Bucket, st *state) error {
	return data.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("data key of %d bytes", len(k))
		}
		st.count++
		st.bytes += entrySize(v)
		return nil
	})
}

func entrySize(line []byte) int64 { return int64(8 + len(line) + entryOverhead) }

// lineTime reads the nanosecond timestamp that ends a line-protocol line; zero
// when the line has none.
func lineTime(line []byte) time.Time {
	end := len(line)
	for end > 0 && (line[end-1] == '\n' || line[end-1] == '\r') {
		end--
	}
	start := end
	for start > 0 && line[start-1] >= '0' && line[start-1] <= '9' {
		start--
	}
	neg := start > 0 && line[start-1] == '-'
	if start == end || end-start > 19 || (start > 0 && line[start-1] != ' ' && !neg) {
		return time.Time{}
	}
	var ns int64
	for _, c := range line[start:end] {
		ns = ns*10 + int64(c-'0')
	}
	if neg {
		ns = -ns
	}
	return time.Unix(0, ns)
}
