package buffer

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// benchSamplesPerOp is the work of one benchmark iteration, so that
// -benchtime=1x still measures a steady state and not one commit.
const benchSamplesPerOp = 200_000

// BenchmarkAppend measures durable appends (fsync on, default window and
// CommitMaxSamples) of ~200-byte pv samples, encoding included.
func BenchmarkAppend(b *testing.B) {
	cases := []struct {
		name             string
		appenders, batch int
	}{
		{"concurrent-16x500", 16, 500},
		{"concurrent-4x5000", 4, 5000},
		{"single-batch-20000", 1, 20000},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			path := tempPath(b)
			buf := openT(b, path, Options{Logger: quietLogger()})
			batches := make([][]sample.Sample, tc.appenders)
			for w := range batches {
				batches[w] = pvSamples(w*tc.batch, tc.batch)
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				appendConcurrently(b, buf, batches, benchSamplesPerOp)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			reportAppend(b, buf, path, elapsed)
		})
	}
}

// BenchmarkAppendLines is the storage path alone: lines already encoded.
func BenchmarkAppendLines(b *testing.B) {
	path := tempPath(b)
	buf := openT(b, path, Options{Logger: quietLogger()})
	lines := make([][]byte, 20000)
	for i := range lines {
		lines[i] = []byte(line(b, pvSample(i)))
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for n := 0; n < benchSamplesPerOp; n += len(lines) {
			if err := buf.AppendLines(context.Background(), lines...); err != nil {
				b.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	reportAppend(b, buf, path, elapsed)
}

// appendConcurrently has one goroutine per batch append its batch until total
// samples were stored between them.
func appendConcurrently(b *testing.B, buf *Buffer, batches [][]sample.Sample, total int64) {
	var left atomic.Int64
	left.Store(total)
	var wg sync.WaitGroup
	for _, batch := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-int64(len(batch))) > -int64(len(batch)) {
				if err := buf.Append(context.Background(), batch...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func reportAppend(b *testing.B, buf *Buffer, path string, elapsed time.Duration) {
	st := buf.Stats()
	b.ReportMetric(float64(st.Appended)/elapsed.Seconds(), "samples/s")
	b.ReportMetric(float64(fileSize(b, path))/float64(st.Count), "disk-bytes/sample")
	b.ReportMetric(float64(st.Bytes)/float64(st.Count), "logical-bytes/sample")
	b.ReportMetric(float64(st.Appended)/float64(st.Commits), "samples/commit")
}

// BenchmarkDiskFootprint writes 1M samples, then reports the file size per
// sample and how long Open takes to rescan them (the restart cost).
func BenchmarkDiskFootprint(b *testing.B) {
	for range b.N {
		path := tempPath(b)
		buf, err := Open(path, Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		batch := pvSamples(0, 20000)
		for range 50 {
			if err := buf.Append(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
		}
		st := buf.Stats()
		if err := buf.Close(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		buf, err = Open(path, Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		openTime := time.Since(start)
		if got := buf.Stats().Count; got != st.Count {
			b.Fatalf("reopen counted %d, want %d", got, st.Count)
		}
		_ = buf.Close()
		b.ReportMetric(float64(st.Count), "samples")
		b.ReportMetric(float64(fileSize(b, path))/float64(st.Count), "disk-bytes/sample")
		b.ReportMetric(float64(openTime.Milliseconds()), "open-ms")
	}
}

// BenchmarkDrain measures the uplink's side: Read batches of 5000 (copying the
// lines out, as a batch encoder would) while up to 8 Deletes are outstanding,
// as the uplink's window of unacked batches is. Deletes ride the group
// commit, so with the default 200 ms window the commits set the pace; at 1 ms
// the figure is the CPU's.
func BenchmarkDrain(b *testing.B) {
	for _, every := range []time.Duration{200 * time.Millisecond, time.Millisecond} {
		b.Run("commit_"+every.String(), func(b *testing.B) { benchDrain(b, every) })
	}
}

func benchDrain(b *testing.B, commitEvery time.Duration) {
	const stored, window = 200_000, 8
	var drained int
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		buf := openT(b, tempPath(b), Options{Logger: quietLogger(), CommitInterval: commitEvery})
		batch := pvSamples(0, 20000)
		for n := 0; n < stored; n += len(batch) {
			if err := buf.Append(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		slots := make(chan struct{}, window)
		var wg sync.WaitGroup
		errs := make(chan error, window)
		out := make([]byte, 0, 2<<20)
		next := uint64(0)
		for {
			out = out[:0]
			first, n := uint64(0), 0
			var err error
			next, err = buf.Read(next, 5000, 1<<20, func(seq uint64, line []byte) error {
				if n == 0 {
					first = seq
				}
				n++
				out = append(out, line...)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
			slots <- struct{}{}
			wg.Add(1)
			go func(first, last uint64) {
				defer wg.Done()
				defer func() { <-slots }()
				if _, err := buf.Delete(first, last); err != nil {
					errs <- err
				}
			}(first, next-1)
			drained += n
		}
		wg.Wait()
		elapsed += time.Since(start)
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		if c := buf.Stats().Count; c != 0 {
			b.Fatalf("%d left after drain", c)
		}
	}
	b.ReportMetric(float64(drained)/elapsed.Seconds(), "samples/s")
}

// BenchmarkSmallCommits is the office's real load: one driver appending 100
// samples per commit. It reports what reaches the disk per sample (from
// /proc/self/io), the figure that wears eMMC flash.
func BenchmarkSmallCommits(b *testing.B) {
	buf := openT(b, tempPath(b), Options{CommitInterval: time.Millisecond, Logger: quietLogger()})
	batch := pvSamples(0, 100)
	mustAppend(b, buf, batch...) // create the buckets' first pages outside the figure
	before := procWriteBytes(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for range 200 {
			if err := buf.Append(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	n := float64(b.N * 200 * len(batch))
	b.ReportMetric(n/elapsed.Seconds(), "samples/s")
	b.ReportMetric(float64(procWriteBytes(b)-before)/n, "written-bytes/sample")
}

func procWriteBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Fatalf("read /proc/self/io: %v", err)
	}
	for l := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no write_bytes in /proc/self/io")
	return 0
}

// BenchmarkFileBound pushes 4x MaxBytes (32 MiB) through a full buffer while
// acks delete part of it, and reports the peak file size over MaxBytes: bbolt
// files never shrink, so this is the disk an office must reserve.
func BenchmarkFileBound(b *testing.B) {
	const maxBytes = 32 << 20
	for range b.N {
		path := tempPath(b)
		buf := openT(b, path, Options{MaxBytes: maxBytes, NoSync: true, CommitInterval: time.Millisecond, Logger: quietLogger()})
		batch := pvSamples(0, 5000)
		var peak int64
		for i := range 4 * maxBytes / (5000 * 200) {
			if err := buf.Append(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
			if o, ok := buf.Oldest(); ok && i%3 == 0 {
				must(buf.Delete(o, o+7000))
			}
			peak = max(peak, fileSize(b, path))
		}
		st := buf.Stats()
		b.ReportMetric(float64(peak)/maxBytes, "peak-file/MaxBytes")
		b.ReportMetric(float64(st.Bytes)/maxBytes, "logical/MaxBytes")
		b.ReportMetric(float64(st.Dropped[DropBufferFull]), "dropped")
	}
}
