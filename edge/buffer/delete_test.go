package buffer

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestDeleteRangeRemovesExactlyTheRange checks the backward cursor walk
// against a plain set: random ranges, some deleted in the transaction that
// wrote the entries (leaves already materialised, as in a group commit that
// appends and deletes together), some in later ones, over leaves emptied
// earlier in the same transaction.
func TestDeleteRangeRemovesExactlyTheRange(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "d.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[uint64]bool{}
	var next uint64 = 1
	line := make([]byte, 120)
	put := func(data *bolt.Bucket, n int) {
		var key [8]byte
		for range n {
			binary.BigEndian.PutUint64(key[:], next)
			if err := data.Put(key[:], line); err != nil {
				t.Fatal(err)
			}
			want[next] = true
			next++
		}
	}
	for round := range 100 {
		err := db.Update(func(tx *bolt.Tx) error {
			data, err := tx.CreateBucketIfNotExists([]byte("data"))
			if err != nil {
				return err
			}
			if round%2 == 0 {
				put(data, 500+rng.IntN(3000))
			}
			for range 1 + rng.IntN(3) {
				first := uint64(rng.IntN(int(next) + 10))
				last := first + uint64(rng.IntN(2500))
				expect := 0
				for s := first; s <= last; s++ {
					if want[s] {
						expect++
						delete(want, s)
					}
				}
				n, freed, err := deleteRange(data, first, last)
				if err != nil {
					return err
				}
				if n != expect || freed != int64(expect)*entrySize(line) {
					t.Fatalf("round %d: deleteRange(%d, %d) = %d entries, %d bytes; want %d, %d", round, first, last, n, freed, expect, int64(expect)*entrySize(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint64]bool{}
		db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("data")).ForEach(func(k, _ []byte) error {
				got[binary.BigEndian.Uint64(k)] = true
				return nil
			})
		})
		if len(got) != len(want) {
			t.Fatalf("round %d: %d entries stored, want %d", round, len(got), len(want))
		}
		for s := range want {
			if !got[s] {
				t.Fatalf("round %d: entry %d deleted outside its range", round, s)
			}
		}
	}
}
