package uplink

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/protocols/sample"
)

// 500 sensors at 1 Hz on one office. Every fleet ack used to force a buffer
// commit (and fsync) that also carried the queued appends and woke the
// uplink to send another small batch: 18-28 commits/s and ~20 requests/s per
// office. The flash writes and the requests per office must stay bounded by
// the commit window (200 ms: 5/s) and the live interval (1 s: 1/s, or what
// uplink.live_interval sets: a fleet of thousands on one box asks for a few
// seconds, docs/deployment.md).
func TestWritePathBoundsCommitsAndBatchesPerOffice(t *testing.T) {
	t.Run("default live interval", func(t *testing.T) { writePathBounds(t, 0, 4*time.Second) })
	t.Run("live interval 3s", func(t *testing.T) { writePathBounds(t, 3*time.Second, 6*time.Second) })
}

func writePathBounds(t *testing.T, live, window time.Duration) {
	f := startFleet(t, "127.0.0.1:0")
	buf, err := buffer.Open(filepath.Join(t.TempDir(), "buffer.db"), buffer.Options{CommitInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { buf.Close() })
	opt := options(f.addr)
	opt.BatchSamples = 5000
	opt.LiveInterval = live
	u := New(opt, buf)
	run(t, u)
	eventually(t, "the uplink to connect", func() bool { return u.Stats().Connected })

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	sent := 0
	for s := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(s) * 2 * time.Millisecond) // sensors spread over the second, as in an office
			tick := time.NewTicker(time.Second)                 // each sensor reports once a second
			defer tick.Stop()
			for i := 0; ; i++ {
				err := buf.Append(context.Background(), sample.Sample{Measurement: "env",
					Tags:   map[string]string{"device": "s" + string(rune('a'+s%26)) + string(rune('a'+s/26))},
					Fields: map[string]any{"t": float64(i)}, Time: base.Add(time.Duration(i) * time.Second)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sent++
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	c0, b0, t0 := buf.Stats().Commits, f.count(), time.Now()
	time.Sleep(window) // the measurement window, not synchronisation
	c1, b1, elapsed := buf.Stats().Commits, f.count(), time.Since(t0)
	stop()
	wg.Wait()
	eventually(t, "everything delivered", func() bool { return f.distinct() == sent && buf.Stats().Count == 0 })

	secs := elapsed.Seconds()
	commits, batches := float64(c1-c0)/secs, float64(b1-b0)/secs
	t.Logf("500 sensors at 1 Hz: %.1f commits/s, %.1f batches/s, %.0f samples per batch", commits, batches, float64(sent)/float64(f.count()))
	// Upper bounds only (a slow box makes fewer): 5 commits/s by the window
	// plus one for a commit in progress at each edge of the measurement.
	if max := 5 + 2/secs; commits > max {
		t.Errorf("%.1f commits/s, want at most %.1f", commits, max)
	}
	interval := live
	if interval == 0 {
		interval = defaultLiveInterval
	}
	if max := 1/interval.Seconds() + 2/secs; batches > max {
		t.Errorf("%.1f batches/s to the fleet, want at most %.1f", batches, max)
	}
}
