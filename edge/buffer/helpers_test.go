package buffer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

var base = time.Date(2025, 3, 1, 8, 20, 0, 0, time.UTC)

// pvSample is a realistic SunSpec inverter sample (about 200 bytes of line
// protocol); id makes every sample recognisable after a round trip.
func pvSample(id int) sample.Sample {
	return sample.Sample{
		Measurement: "pv",
		Tags:        map[string]string{"device": "inv1", "office": "12345", "model": "103"},
		Fields: map[string]any{
			"W": 4123.5, "VA": 4200.25, "Hz": 50.01, "PhVphA": 230.1, "PhVphB": 229.8,
			"PhVphC": 231.2, "A": 17.92, "WH": int64(123456789), "St": int64(4), "TmpCab": 41.5,
			"id": int64(id),
		},
		Time: base.Add(time.Duration(id) * time.Second),
	}
}

func pvSamples(from, n int) []sample.Sample {
	out := make([]sample.Sample, n)
	for i := range out {
		out[i] = pvSample(from + i)
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fastOpts keeps tests quick: a short window so sequential appends do not wait
// 200ms each. Durability (fsync) stays on.
func fastOpts() Options {
	return Options{CommitInterval: 2 * time.Millisecond, Logger: quietLogger()}
}

func openT(t testing.TB, path string, opt Options) *Buffer {
	t.Helper()
	b, err := Open(path, opt)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "sub", "buffer.db") }

type entry struct {
	seq  uint64
	line string
}

// readAll returns every stored entry.
func readAll(t testing.TB, b *Buffer) []entry {
	t.Helper()
	var out []entry
	_, err := b.Read(0, 0, 0, func(seq uint64, line []byte) error {
		out = append(out, entry{seq, string(line)})
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return out
}

// storedIDs returns the id field of every stored line, checking that each line
// is exactly what sample.AppendLine produces for pvSample(id).
func storedIDs(t testing.TB, b *Buffer) map[int64]uint64 {
	t.Helper()
	ids := map[int64]uint64{}
	for _, e := range readAll(t, b) {
		id, ok := lineID(e.line)
		if !ok {
			t.Fatalf("seq %d: no id in stored line %q", e.seq, e.line)
		}
		if want := line(t, pvSample(int(id))); e.line != want {
			t.Fatalf("seq %d: stored %q, want %q", e.seq, e.line, want)
		}
		if prev, dup := ids[id]; dup {
			t.Fatalf("id %d stored twice (seq %d and %d)", id, prev, e.seq)
		}
		ids[id] = e.seq
	}
	return ids
}

// lineID extracts the integer field id=<n>i. (sample.ParseLine is not used:
// at the time of writing it loses the timestamp.)
func lineID(l string) (int64, bool) {
	i := strings.Index(l, ",id=")
	if i < 0 {
		return 0, false
	}
	rest := l[i+len(",id="):]
	j := strings.IndexByte(rest, 'i')
	if j < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(rest[:j], 10, 64)
	return id, err == nil
}

func mustAppend(t testing.TB, b *Buffer, samples ...sample.Sample) {
	t.Helper()
	if err := b.Append(context.Background(), samples...); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func line(t testing.TB, s sample.Sample) string {
	t.Helper()
	l, err := s.AppendLine(nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(l)
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}
