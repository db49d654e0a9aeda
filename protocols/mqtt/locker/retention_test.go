package locker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/polis-edge/polis/protocols/sample"
)

type nopPub struct{}

func (nopPub) PublishCommand(context.Context, string, []byte) error { return nil }

type nopSink struct{}

func (nopSink) Append(context.Context, ...sample.Sample) error { return nil }

func newTestCommander(t *testing.T) *Commander {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := NewCommander(db, nopPub{}, nopSink{}, func(string, string, string, string) error { return nil },
		time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fill writes n audit entries and as many finished commands, one minute
// apart, the first at start.
func fill(t *testing.T, c *Commander, n int, start time.Time) {
	t.Helper()
	err := c.db.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			at := start.Add(time.Duration(i) * time.Minute)
			seq, _ := tx.Bucket(bucketAudit).NextSequence()
			v, _ := json.Marshal(AuditEntry{Seq: seq, Time: at, Step: "done", ID: "c" + string(rune('a'+i%26)), Bank: "b"})
			if err := tx.Bucket(bucketAudit).Put(key(seq), v); err != nil {
				return err
			}
			if err := put(tx.Bucket(bucketCommands), Record{Request: Request{ID: "id-" + at.Format(time.RFC3339Nano)}, Result: ResultDone, FinishedAt: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, c *Commander, bucket []byte) int {
	t.Helper()
	n := 0
	_ = c.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil })
	return n
}

// The audit and command buckets no longer grow forever: entries past the
// retention go, and Audit("") returns one bounded page, not the history.
func TestAuditRetentionAndPaging(t *testing.T) {
	c := newTestCommander(t)
	now := time.Now()
	fill(t, c, 30, now.Add(-Retention-time.Hour)) // 30 too old
	fill(t, c, MaxAuditPage+500, now.Add(-24*time.Hour))
	all, err := c.Audit("")
	if err != nil || len(all) != MaxAuditPage {
		t.Fatalf("Audit(\"\") = %d entries, %v; want one page of %d", len(all), err, MaxAuditPage)
	}
	if all[0].Seq >= all[len(all)-1].Seq || all[len(all)-1].Seq != uint64(30+MaxAuditPage+500) {
		t.Errorf("Audit(\"\") is not the most recent page oldest first: %d..%d", all[0].Seq, all[len(all)-1].Seq)
	}
	var seen int
	for after := uint64(0); ; {
		page, next, err := c.AuditPage(after, 400)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page)
		if next == 0 {
			break
		}
		after = next
	}
	if seen != 30+MaxAuditPage+500 {
		t.Errorf("paging saw %d entries, want %d", seen, 30+MaxAuditPage+500)
	}

	c.prune(now)
	if n := count(t, c, bucketAudit); n != MaxAuditPage+500 {
		t.Errorf("audit entries after prune: %d, want %d", n, MaxAuditPage+500)
	}
	if n := count(t, c, bucketCommands); n != MaxAuditPage+500 {
		t.Errorf("commands after prune: %d, want %d", n, MaxAuditPage+500)
	}
}
