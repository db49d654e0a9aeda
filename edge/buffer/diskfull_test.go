package buffer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes for the test: a real filesystem
// that really fills up (ENOSPC), like the 24 MiB edge disk that was tried.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root (CI runs as root)")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// With the uplink down and max_bytes (256 MiB) far above the disk (24 MiB),
// the buffer must follow the real free space: every append succeeds, the
// oldest samples are dropped and counted as disk_full, nothing fails with
// ENOSPC, and when the uplink returns the acked ranges can be deleted.
func TestFullDiskDropsOldestByPolicy(t *testing.T) {
	dir := smallDisk(t, "24m")
	path := filepath.Join(dir, "buffer.db")
	opt := fastOpts()
	opt.MaxBytes = 256 << 20
	b := openT(t, path, opt)

	const perCall, calls = 500, 600 // 300,000 samples, ~60 MiB of lines
	total := 0
	for i := range calls {
		if err := b.Append(context.Background(), pvSamples(i*perCall, perCall)...); err != nil {
			t.Fatalf("append %d after %d samples: %v (stats %+v)", i, total, err, b.Stats())
		}
		total += perCall
	}
	st := b.Stats()
	if st.Dropped[DropDiskFull] == 0 {
		t.Fatalf("disk full but nothing dropped by policy: %+v", st)
	}
	if got := uint64(st.Count) + st.Dropped[DropDiskFull] + st.Dropped[DropBufferFull]; got != uint64(total) {
		t.Fatalf("stored %d + dropped %v = %d, want every one of the %d samples accounted for", st.Count, st.Dropped, got, total)
	}
	if st.Refused != 0 {
		t.Fatalf("%d samples refused: the disk filled up instead of dropping oldest", st.Refused)
	}
	if st.Limit >= opt.MaxBytes || st.Limit <= 0 {
		t.Fatalf("limit %d does not follow the disk", st.Limit)
	}
	// The fleet acks everything: the deletes must succeed on the full disk.
	first, _ := b.Oldest()
	if _, err := b.Delete(first, b.Head()-1); err != nil {
		t.Fatalf("delete of acked samples on a full disk: %v", err)
	}
	if st := b.Stats(); st.Count != 0 {
		t.Fatalf("%d samples left after deleting everything", st.Count)
	}
	// And the space is reused: the buffer takes new samples again.
	mustAppend(t, b, pvSamples(total, 1000)...)
	t.Logf("24 MiB disk: %d samples stored at the end, limit %d bytes, dropped %v", st.Count, st.Limit, st.Dropped)
}
