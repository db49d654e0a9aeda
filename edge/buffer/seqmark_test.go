package buffer

import (
	"bytes"
	"os"
	"testing"
)

// After a corrupt file is moved aside, a late ack for a batch of the old file
// must not delete the new file's unsent samples: numbering continues above
// everything the old file ever handed out.
func TestSequenceNumbersMonotonicAcrossRecovery(t *testing.T) {
	path := tempPath(t)
	old, err := Open(path, fastOpts())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, old, pvSamples(0, 100)...)
	oldHead := old.Head() // the uplink may have sent 1..oldHead-1, acks still on their way
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}

	b := openT(t, path, fastOpts())
	if b.Stats().Recovered != 1 {
		t.Fatal("the corrupt file was not recovered")
	}
	mustAppend(t, b, pvSamples(1000, 50)...)
	first, _ := b.Oldest()
	if first < oldHead {
		t.Fatalf("fresh buffer numbers from %d, below the old file's head %d", first, oldHead)
	}
	// The late ack for the old file's batch 1..oldHead-1.
	n, err := b.Delete(1, oldHead-1)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(storedIDs(t, b)) != 50 {
		t.Fatalf("a late ack for the old file deleted %d new samples", n)
	}

	// Also across a plain restart and a second recovery.
	head := b.Head()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte{1, 2, 3}, 0o600); err != nil {
		t.Fatal(err)
	}
	c := openT(t, path, fastOpts())
	if c.Head() < head {
		t.Fatalf("after a second recovery head %d < %d", c.Head(), head)
	}
}
