package buffer

import (
	"context"
	"testing"
)

func TestSizeBoundDropsOldestAndPersistsCounters(t *testing.T) {
	path := tempPath(t)
	opt := fastOpts()
	opt.MaxBytes = 256 << 10
	b := openT(t, path, opt)

	const total, per = 6000, 200 // ~1.2 MB of lines into a 256 KiB buffer
	for i := 0; i < total; i += per {
		mustAppend(t, b, pvSamples(i, per)...)
		if st := b.Stats(); st.Bytes > opt.MaxBytes {
			t.Fatalf("after %d samples: %d bytes stored, bound is %d", i+per, st.Bytes, opt.MaxBytes)
		}
	}
	b.CountDrop("fleet_rejected", 7)

	st := b.Stats()
	ids := storedIDs(t, b)
	if int64(len(ids)) != st.Count || st.Count == 0 {
		t.Fatalf("stats count %d, stored %d", st.Count, len(ids))
	}
	if got := st.Dropped[DropBufferFull]; got != uint64(total)-uint64(st.Count) {
		t.Fatalf("Dropped[buffer_full] = %d, want %d (appended %d, kept %d)", got, total-int(st.Count), total, st.Count)
	}
	// What is kept is the newest data, contiguous up to the last sample.
	for id := total - int(st.Count); id < total; id++ {
		if _, ok := ids[int64(id)]; !ok {
			t.Fatalf("id %d missing: drop-oldest must keep the newest %d samples", id, st.Count)
		}
	}
	if !st.OldestTime.Equal(pvSample(total - int(st.Count)).Time) {
		t.Errorf("OldestTime %s, want the time of the oldest kept sample", st.OldestTime)
	}
	if st.Dropped["fleet_rejected"] != 7 {
		t.Errorf("fleet_rejected = %d before commit, want 7 (pending drops count)", st.Dropped["fleet_rejected"])
	}
	fileBytes := fileSize(t, path)
	t.Logf("MaxBytes %d, logical %d, file %d (%.2fx MaxBytes)", opt.MaxBytes, st.Bytes, fileBytes, float64(fileBytes)/float64(opt.MaxBytes))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openT(t, path, opt)
	re := b.Stats()
	if re.Count != st.Count || re.Bytes != st.Bytes || b.Head() != total+1 {
		t.Errorf("after reopen count %d bytes %d head %d, want %d %d %d", re.Count, re.Bytes, b.Head(), st.Count, st.Bytes, total+1)
	}
	for _, reason := range []string{DropBufferFull, "fleet_rejected"} {
		if re.Dropped[reason] != st.Dropped[reason] {
			t.Errorf("after reopen Dropped[%s] = %d, want %d", reason, re.Dropped[reason], st.Dropped[reason])
		}
	}
}

func TestBatchLargerThanBoundKeepsItsNewest(t *testing.T) {
	opt := fastOpts()
	opt.MaxBytes = 10 * entrySize([]byte(line(t, pvSample(20)))) // ids 15..24 encode to the same length
	b := openT(t, tempPath(t), opt)
	if err := b.Append(context.Background(), pvSamples(0, 25)...); err != nil {
		t.Fatal(err)
	}
	ids := storedIDs(t, b)
	st := b.Stats()
	if len(ids) != 10 || st.Dropped[DropBufferFull] != 15 {
		t.Fatalf("kept %d, dropped %d; want 10 kept and 15 dropped", len(ids), st.Dropped[DropBufferFull])
	}
	for id := 15; id < 25; id++ {
		if _, ok := ids[int64(id)]; !ok {
			t.Fatalf("id %d missing, want the newest 10 (15..24) kept: %v", id, ids)
		}
	}
	if b.Head() != 26 {
		t.Errorf("Head = %d, want 26: dropped samples still consumed their seqs", b.Head())
	}
}

// TestFileSizeStaysBounded writes 8x MaxBytes through a full buffer while the
// reader drains part of it, the way an office lives through a long outage: the
// file must stop growing once bbolt reuses its free pages.
func TestFileSizeStaysBounded(t *testing.T) {
	path := tempPath(t)
	opt := fastOpts()
	opt.MaxBytes = 1 << 20
	b := openT(t, path, opt)
	var peak int64
	for i := range 200 {
		mustAppend(t, b, pvSamples(i*200, 200)...)
		if i%10 == 9 { // an occasional ack from the fleet
			if o, ok := b.Oldest(); ok {
				must(b.Delete(o, o+500))
			}
		}
		peak = max(peak, fileSize(t, path))
	}
	t.Logf("MaxBytes %d: peak file size %d (%.2fx)", opt.MaxBytes, peak, float64(peak)/float64(opt.MaxBytes))
	if peak > 4*opt.MaxBytes {
		t.Errorf("file grew to %d bytes, more than 4x MaxBytes %d", peak, opt.MaxBytes)
	}
}
