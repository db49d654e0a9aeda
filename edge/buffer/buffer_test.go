package buffer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

func TestRoundTripKeepsOrderAndLines(t *testing.T) {
	b := openT(t, tempPath(t), fastOpts())
	mustAppend(t, b, pvSamples(0, 3)...)
	mustAppend(t, b, pvSamples(3, 2)...)

	got := readAll(t, b)
	if len(got) != 5 {
		t.Fatalf("stored %d entries, want 5", len(got))
	}
	for i, e := range got {
		if e.seq != uint64(i+1) {
			t.Errorf("entry %d: seq %d, want %d", i, e.seq, i+1)
		}
		if want := line(t, pvSample(i)); e.line != want {
			t.Errorf("seq %d: line %q, want %q", e.seq, e.line, want)
		}
	}
	if h := b.Head(); h != 6 {
		t.Errorf("Head = %d, want 6", h)
	}
	if o, ok := b.Oldest(); !ok || o != 1 {
		t.Errorf("Oldest = %d,%v want 1,true", o, ok)
	}
	st := b.Stats()
	if st.Count != 5 || st.Appended != 5 || !st.OldestTime.Equal(pvSample(0).Time) {
		t.Errorf("stats %+v: want count 5, appended 5, oldest time %s", st, pvSample(0).Time)
	}
	var wantBytes int64
	for _, e := range got {
		wantBytes += entrySize([]byte(e.line))
	}
	if st.Bytes != wantBytes {
		t.Errorf("Bytes = %d, want %d", st.Bytes, wantBytes)
	}
}

func TestSeqMonotonicAcrossReopen(t *testing.T) {
	path := tempPath(t)
	b := openT(t, path, fastOpts())
	mustAppend(t, b, pvSamples(0, 5)...)
	must(b.Delete(1, 5)) // empty again: the high-water mark must come from meta
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openT(t, path, fastOpts())
	if b.Head() != 6 {
		t.Fatalf("Head after reopen = %d, want 6", b.Head())
	}
	mustAppend(t, b, pvSample(5))
	got := readAll(t, b)
	if len(got) != 1 || got[0].seq != 6 {
		t.Fatalf("after reopen stored %+v, want one entry with seq 6", got)
	}
}

func TestConcurrentAppendersEachVisibleOnReturn(t *testing.T) {
	b := openT(t, tempPath(t), Options{CommitInterval: 5 * time.Millisecond, Logger: quietLogger()})
	const workers, calls, per = 8, 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				id := (w*calls + c) * per
				if err := b.Append(context.Background(), pvSamples(id, per)...); err != nil {
					errs <- err
					return
				}
				// Returned means committed: a read transaction must see it now.
				if !containsID(b, int64(id+per-1)) {
					errs <- fmt.Errorf("id %d not readable after Append returned", id+per-1)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := storedIDs(t, b)
	if len(ids) != workers*calls*per {
		t.Fatalf("stored %d samples, want %d", len(ids), workers*calls*per)
	}
	if st := b.Stats(); st.Commits >= uint64(workers*calls) {
		t.Errorf("%d commits for %d concurrent calls: group commit did not group", st.Commits, workers*calls)
	}
}

func containsID(b *Buffer, id int64) bool {
	found := false
	want := fmt.Sprintf("id=%di", id)
	_, _ = b.Read(0, 0, 0, func(_ uint64, line []byte) error {
		if strings.Contains(string(line), want+",") || strings.Contains(string(line), want+" ") {
			found = true
		}
		return nil
	})
	return found
}

func TestManyConcurrentAppendsShareOneCommit(t *testing.T) {
	// A long window: after the first immediate commit, the others must queue up
	// and go out together, not one fsync each.
	b := openT(t, tempPath(t), Options{CommitInterval: 100 * time.Millisecond, Logger: quietLogger()})
	const callers = 200
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Append(context.Background(), pvSample(i)); err != nil {
				t.Error(err) // not Fatal: this is not the test goroutine
			}
		}()
	}
	wg.Wait()
	st := b.Stats()
	if st.Count != callers {
		t.Fatalf("stored %d, want %d", st.Count, callers)
	}
	if st.Commits > callers/10 {
		t.Errorf("%d commits for %d single-sample appends, want at most %d", st.Commits, callers, callers/10)
	}
}

func TestInvalidSamplesCountedValidStored(t *testing.T) {
	path := tempPath(t)
	b := openT(t, path, fastOpts())
	bad := []sample.Sample{
		{Measurement: "pv", Fields: map[string]any{}, Time: base},                    // no fields
		{Measurement: "pv", Fields: map[string]any{"W": 1.0}, Time: time.Unix(0, 0)}, // broken clock
	}
	in := []sample.Sample{pvSample(1), bad[0], pvSample(2), bad[1]}
	err := b.Append(context.Background(), in...)
	if !errors.Is(err, sample.ErrInvalid) || !strings.Contains(err.Error(), "2 of 4") {
		t.Fatalf("Append err = %v, want ErrInvalid saying 2 of 4", err)
	}
	ids := storedIDs(t, b)
	if len(ids) != 2 || ids[1] == 0 || ids[2] == 0 {
		t.Fatalf("stored ids %v, want 1 and 2", ids)
	}

	// All invalid: nothing to wait for, still counted.
	if err := b.Append(context.Background(), bad[0]); !errors.Is(err, sample.ErrInvalid) {
		t.Fatalf("all-invalid Append err = %v, want ErrInvalid", err)
	}
	err = b.AppendLines(context.Background(), []byte("pv W=1 1740816000000000000"), nil, []byte("a x=1 1\nb y=2 2"))
	if !errors.Is(err, sample.ErrInvalid) {
		t.Fatalf("AppendLines err = %v, want ErrInvalid", err)
	}
	if got := b.Stats().Dropped[DropInvalid]; got != 5 {
		t.Fatalf("Dropped[invalid] = %d, want 5", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openT(t, path, fastOpts())
	if got := b.Stats().Dropped[DropInvalid]; got != 5 {
		t.Errorf("after reopen Dropped[invalid] = %d, want 5", got)
	}
	if got := b.Stats().Count; got != 3 {
		t.Errorf("after reopen count = %d, want 3", got)
	}
}

func TestClosedBuffer(t *testing.T) {
	b := openT(t, tempPath(t), fastOpts())
	mustAppend(t, b, pvSample(0))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := b.Append(context.Background(), pvSample(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if err := b.AppendLines(context.Background(), []byte("pv W=1 1")); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendLines after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Delete(1, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Read(0, 0, 0, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
}

func TestCancelledContextStoresNothing(t *testing.T) {
	b := openT(t, tempPath(t), fastOpts())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Append(ctx, pvSample(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with cancelled ctx: %v", err)
	}
	if n := b.Stats().Count; n != 0 {
		t.Errorf("stored %d samples from a cancelled Append", n)
	}
}

func TestNotifyAfterCommit(t *testing.T) {
	b := openT(t, tempPath(t), fastOpts())
	select {
	case <-b.Notify():
		t.Fatal("notified before any data")
	default:
	}
	mustAppend(t, b, pvSample(0))
	select {
	case <-b.Notify():
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after a commit that added data")
	}
	must(b.Delete(1, 1))
	select {
	case <-b.Notify():
		t.Fatal("notified after a commit that only deleted")
	default:
	}
}

func TestLineTime(t *testing.T) {
	tests := []struct {
		line string
		want time.Time
	}{
		{"pv W=1 1740816000000000000\n", time.Unix(0, 1740816000000000000)},
		{"pv W=1 1740816000000000000", time.Unix(0, 1740816000000000000)},
		{"pv W=1", time.Time{}},
		{`pv s="a 12" 42` + "\n", time.Unix(0, 42)},
		{"pv W=1 -5\n", time.Unix(0, -5)},
		{"", time.Time{}},
	}
	for _, tc := range tests {
		if got := lineTime([]byte(tc.line)); !got.Equal(tc.want) {
			t.Errorf("lineTime(%q) = %s, want %s", tc.line, got, tc.want)
		}
	}
}
