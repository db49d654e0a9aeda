package buffer

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Format versions of the edge's bbolt files. A file records the version that
// wrote it; an older release reading a newer file refuses it (FormatError)
// instead of moving it aside or rewriting it, and a newer release opening an
// older file upgrades it in place, keeping everything in it.
//
//	buffer v1: data bucket of seq → line protocol; meta with next_seq, count,
//	           bytes, drop:<reason>. Files written before versions were
//	           recorded (release 5d52593 and earlier) have the same layout
//	           and are stamped v1 when first opened.
//	state  v1: ocpp_chargers, ocpp_sessions and the locker commander's
//	           buckets, as written by 5d52593; audit buckets added since
//	           are created on demand and need no migration.
const (
	BufferFormat uint64 = 1
	StateFormat  uint64 = 1
)

// keyFormat holds the version in the file's meta bucket: 8 bytes big endian
// like every other meta value, so a release from before versions (which
// checks that every meta value is 8 bytes) still opens a stamped v1 file.
var keyFormat = []byte("format_version")

// FormatError says a file was written by a newer release than this one.
type FormatError struct {
	File            string // "buffer" or "state"
	Found, Readable uint64
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s file has format version %d but this polis-edge reads up to version %d: "+
		"it was written by a newer release; refusing to open it so nothing in it is lost "+
		"(install that release again, or move the file aside to start empty)", e.File, e.Found, e.Readable)
}

// StampFormat checks and records the format version of a file in bucket
// (created if missing) inside a read-write transaction: a file without a
// version is stamped current, a file of a newer version is a *FormatError.
// Migrations from older versions go here when a version is added.
func StampFormat(tx *bolt.Tx, bucket []byte, file string, current uint64) error {
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return fmt.Errorf("%s: format bucket: %w", file, err)
	}
	found := uint64(0)
	if v := b.Get(keyFormat); v != nil {
		if len(v) != 8 {
			return fmt.Errorf("%s: format_version of %d bytes", file, len(v))
		}
		found = binary.BigEndian.Uint64(v)
	}
	switch {
	case found > current:
		return &FormatError{File: file, Found: found, Readable: current}
	case found == current:
		return nil
	}
	// found < current: v0 (unversioned) and v1 share the layout, nothing to convert.
	return b.Put(keyFormat, binary.BigEndian.AppendUint64(nil, current))
}

// checkFormat is the buffer's own hook, called first in loadState.
func checkFormat(tx *bolt.Tx) error { return StampFormat(tx, bucketMeta, "buffer", BufferFormat) }
