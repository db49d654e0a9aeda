package buffer

import (
	"fmt"
	"path/filepath"
	"syscall"
)

// DropDiskFull counts the oldest samples dropped because the disk, not
// MaxBytes, ran out of room.
const DropDiskFull = "disk_full"

// defaultDiskReserve is the free disk space the buffer never plans to use.
// bbolt extends its file in steps of DefaultAllocSize (16 MiB) when it runs
// out of free pages, and a step that does not fit fails the whole commit
// with ENOSPC. Keeping one step plus headroom free means the file can always
// grow once more, so commits (and the deletes that free pages) keep working.
const defaultDiskReserve = boltAllocStep + 8<<20

// boltAllocStep is bbolt's DefaultAllocSize (internal to bbolt).
const boltAllocStep = 16 << 20

// diskCost is the file bytes one logical byte may need: pages are not full
// (copy-on-write leaves partly filled leaves) and a commit rewrites the
// pages it touches. The bound derived from free space divides by it, so it
// errs towards dropping a little early rather than hitting ENOSPC.
const diskCost = 2

// freeDisk returns the bytes available to this process on the filesystem
// holding dir, and the filesystem's size.
func freeDisk(dir string) (free, size int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// limit returns the bound on logical bytes for the next commit and the drop
// reason that applies when it is exceeded. It follows the real free space:
// the room left is the free pages inside the file (reused before the file
// grows) plus the free disk beyond the reserve; the buffer may hold what it
// holds now plus what that room can take. It runs on the owner goroutine,
// once per commit (one statfs).
func (b *Buffer) limit(cur state) (int64, string) {
	free, size, err := freeDisk(filepath.Dir(b.path))
	if err != nil {
		b.log.Warn("cannot read free disk space; bounding by max_bytes only", "err", err)
		return b.opt.MaxBytes, DropBufferFull
	}
	st := b.db.Stats()
	inFile := int64(st.FreePageN+st.PendingPageN) * pageSize
	// On a small filesystem a whole growth step would be most of it: keep a
	// quarter of it instead.
	room := inFile + free - min(b.opt.DiskReserve, size/4)
	byDisk := cur.bytes + room/diskCost
	b.stMu.Lock()
	b.st.diskFree = free
	b.st.limit = max(min(byDisk, b.opt.MaxBytes), 0)
	b.stMu.Unlock()
	if byDisk < b.opt.MaxBytes {
		return max(byDisk, 0), DropDiskFull
	}
	return b.opt.MaxBytes, DropBufferFull
}
