package buffer

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The counts Open reads from the meta bucket must equal what a full scan of
// the data finds, after appends, acked deletes and size-bound drops; and a
// file without them (written before they were kept) is scanned instead.
func TestPersistedCountsMatchAScan(t *testing.T) {
	path := tempPath(t)
	opt := fastOpts()
	opt.MaxBytes = 1 << 20 // small: the appends below overflow it and drop the oldest
	b := openT(t, path, opt)
	for i := 0; i < 20; i++ {
		if err := b.Append(context.Background(), pvSamples(i*500, 500)...); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := b.Oldest()
	if _, err := b.Delete(first, first+99); err != nil {
		t.Fatal(err)
	}
	before := b.Stats()
	if before.Dropped[DropBufferFull] == 0 {
		t.Fatal("test did not reach the size bound")
	}
	b.Close()

	b = openT(t, path, opt)
	persisted := b.Stats()
	b.Close()
	if persisted.Count != before.Count || persisted.Bytes != before.Bytes || !persisted.OldestTime.Equal(before.OldestTime) {
		t.Fatalf("reopened with %d samples / %d bytes, closed with %d / %d", persisted.Count, persisted.Bytes, before.Count, before.Bytes)
	}

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		meta.Delete(keyCount)
		return meta.Delete(keyBytes)
	})
	db.Close()
	b = openT(t, path, opt)
	defer b.Close()
	if scanned := b.Stats(); scanned.Count != before.Count || scanned.Bytes != before.Bytes {
		t.Fatalf("scan found %d / %d, want %d / %d", scanned.Count, scanned.Bytes, before.Count, before.Bytes)
	}
}
