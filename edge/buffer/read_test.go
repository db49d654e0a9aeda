package buffer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestReadLimits(t *testing.T) {
	b := openT(t, tempPath(t), fastOpts())
	mustAppend(t, b, pvSamples(0, 10)...) // seqs 1..10
	lineLen := len(line(t, pvSample(0)))

	tests := []struct {
		name              string
		from              uint64
		maxCount, maxByte int
		wantFirst, wantN  int
		wantNext          uint64
	}{
		{"all", 0, 0, 0, 1, 10, 11},
		{"count", 1, 4, 0, 1, 4, 5},
		{"from middle", 7, 100, 0, 7, 4, 11},
		{"bytes", 1, 0, 3*lineLen + 1, 1, 3, 4},
		{"bytes below one line still gives one", 5, 0, 10, 5, 1, 6},
		{"count and bytes, tighter wins", 2, 2, 10 * lineLen, 2, 2, 4},
		{"past the end", 11, 5, 0, 0, 0, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seqs []uint64
			next, err := b.Read(tc.from, tc.maxCount, tc.maxByte, func(seq uint64, _ []byte) error {
				seqs = append(seqs, seq)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seqs) != tc.wantN || next != tc.wantNext {
				t.Fatalf("got seqs %v next %d, want %d entries next %d", seqs, next, tc.wantN, tc.wantNext)
			}
			for i, s := range seqs {
				if s != uint64(tc.wantFirst+i) {
					t.Fatalf("seqs %v: want ascending from %d", seqs, tc.wantFirst)
				}
			}
		})
	}

	stop := errors.New("stop")
	next, err := b.Read(3, 0, 0, func(seq uint64, _ []byte) error {
		if seq == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || next != 5 {
		t.Errorf("fn error: got next %d err %v, want 5 and the fn error", next, err)
	}
}

func TestDeleteRangesHeadOldest(t *testing.T) {
	b := openT(t, tempPath(t), fastOpts())
	mustAppend(t, b, pvSamples(0, 10)...) // seqs 1..10

	steps := []struct {
		first, last uint64
		wantN       int
		wantOldest  uint64 // 0: empty
		wantCount   int64
	}{
		{4, 6, 3, 1, 7},   // a hole in the middle
		{1, 2, 2, 3, 5},   // the front
		{1, 5, 1, 7, 4},   // partly missing keys are fine
		{20, 30, 0, 7, 4}, // nothing there
		{7, 100, 4, 0, 0}, // everything left
		{1, 1 << 62, 0, 0, 0},
	}
	for _, s := range steps {
		n, err := b.Delete(s.first, s.last)
		if err != nil || n != s.wantN {
			t.Fatalf("Delete(%d,%d) = %d,%v want %d", s.first, s.last, n, err, s.wantN)
		}
		o, ok := b.Oldest()
		if (s.wantOldest == 0) == ok || (ok && o != s.wantOldest) {
			t.Fatalf("after Delete(%d,%d): Oldest %d,%v want %d", s.first, s.last, o, ok, s.wantOldest)
		}
		if st := b.Stats(); st.Count != s.wantCount {
			t.Fatalf("after Delete(%d,%d): count %d want %d", s.first, s.last, st.Count, s.wantCount)
		}
	}
	if st := b.Stats(); st.Bytes != 0 || !st.OldestTime.IsZero() {
		t.Errorf("empty buffer: bytes %d oldest time %s, want 0 and zero", st.Bytes, st.OldestTime)
	}
	if b.Head() != 11 {
		t.Errorf("Head after deleting everything = %d, want 11 (seqs are never reused)", b.Head())
	}
	if _, err := b.Delete(5, 4); err == nil {
		t.Error("reversed range: want an error")
	}
}

// TestDrainWhileAppending is the office in steady state: drivers append while
// the uplink reads, "sends" and deletes. Every sample must come out exactly
// once, in seq order.
func TestDrainWhileAppending(t *testing.T) {
	b := openT(t, tempPath(t), fastOpts())
	const workers, calls, per = 4, 30, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				if err := b.Append(context.Background(), pvSamples((w*calls+c)*per, per)...); err != nil {
					t.Error(err) // not Fatal: this is not the test goroutine
					return
				}
			}
		}()
	}
	appendsDone := make(chan struct{})
	go func() { wg.Wait(); close(appendsDone) }()

	seen := map[int64]bool{}
	next, lastSeq := uint64(0), uint64(0)
	for finished := false; ; {
		select {
		case <-appendsDone:
			finished = true
		case <-b.Notify():
		case <-time.After(time.Second):
		}
		for {
			first, n := uint64(0), 0
			var err error
			next, err = b.Read(next, 7, 0, func(seq uint64, line []byte) error {
				if seq <= lastSeq {
					return fmt.Errorf("seq %d after %d", seq, lastSeq)
				}
				lastSeq = seq
				id, ok := lineID(string(line))
				if !ok || seen[id] {
					return fmt.Errorf("seq %d: id %d missing or seen twice", seq, id)
				}
				seen[id] = true
				if n == 0 {
					first = seq
				}
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if got, err := b.Delete(first, next-1); err != nil || got != n {
				t.Fatalf("Delete(%d,%d) = %d,%v, want %d", first, next-1, got, err, n)
			}
		}
		if finished {
			break
		}
	}
	if len(seen) != workers*calls*per {
		t.Fatalf("drained %d samples, want %d", len(seen), workers*calls*per)
	}
	if st := b.Stats(); st.Count != 0 || st.Bytes != 0 {
		t.Fatalf("after drain: count %d bytes %d, want empty", st.Count, st.Bytes)
	}
}
