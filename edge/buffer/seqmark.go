package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Sequence numbers name batches to the fleet, and an ack names a range to
// delete. If a corrupt file is moved aside and numbering restarted at 1, a
// late ack for an old batch would delete new, unsent samples with the same
// numbers. So the buffer keeps a high-water mark outside the bbolt file, in
// <path>.seq: a reservation that every assigned number stays below. It is
// raised in steps of seqReserve (one small fsynced file write per million
// samples), before a commit that would cross it, and a fresh buffer after
// recovery starts at the reservation.
const seqReserve = 1 << 20

func seqMarkPath(dbPath string) string { return dbPath + ".seq" }

// readSeqMark returns the reservation, 0 when there is none.
func readSeqMark(dbPath string) (uint64, error) {
	b, err := os.ReadFile(seqMarkPath(dbPath))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read sequence mark: %w", err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("sequence mark %s: %d bytes, want 8", seqMarkPath(dbPath), len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// writeSeqMark durably replaces the reservation (write, fsync, rename,
// fsync the directory), so a crash leaves the old or the new mark, never none.
func writeSeqMark(dbPath string, mark uint64, noSync bool) error {
	path := seqMarkPath(dbPath)
	tmp := path + ".tmp"
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], mark)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write sequence mark: %w", err)
	}
	_, err = f.Write(v[:])
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && !noSync {
		if d, derr := os.Open(filepath.Dir(path)); derr == nil {
			err = d.Sync()
			_ = d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("write sequence mark: %w", err)
	}
	return nil
}

// reserveSeqs makes sure numbers up to head+n-1 are covered by the mark. It
// runs on the owner goroutine before the commit that assigns them.
func (b *Buffer) reserveSeqs(head uint64, n int) error {
	if head+uint64(n) <= b.seqMark {
		return nil
	}
	mark := head + uint64(n) + seqReserve
	if err := writeSeqMark(b.path, mark, b.opt.NoSync); err != nil {
		return err
	}
	b.seqMark = mark
	return nil
}
