package edge

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/buffer"
	"github.com/polis-edge/polis/protocols/sample"
)

// fakeClock is a box's wall clock (which NTP steps) and its monotonic
// clock (which never jumps), driven by the test.
type fakeClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.wall }
func (c *fakeClock) Mono() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.mono }
func (c *fakeClock) set(wall time.Time, mono time.Duration) {
	c.mu.Lock()
	c.wall, c.mono = wall, mono
	c.mu.Unlock()
}

func bufferedTimes(t *testing.T, b *buffer.Buffer) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	_, err := b.Read(0, 1000, 1<<20, func(_ uint64, line []byte) error {
		s, err := sample.ParseLine(line)
		if err != nil {
			return err
		}
		out[s.Measurement] = s.Time
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A box without RTC boots at 1970: what it stamps meanwhile (a sensor
// reading, its own telemetry) is accepted, not refused, and reaches the
// buffer with the right time once NTP sets the clock; a device's plausible
// time (a locker event) goes through at once.
func TestUnsetClockKeepsSamplesAndStampsThemOnceSane(t *testing.T) {
	buf, err := buffer.Open(filepath.Join(t.TempDir(), "buffer.db"), buffer.Options{CommitInterval: 5 * time.Millisecond, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	boot := time.Unix(0, 0).UTC()
	clk := &fakeClock{}
	clk.set(boot.Add(60*time.Second), 60*time.Second)
	sink := &officeSink{buf: buf, office: "12345", hold: &clockHold{clock: clk}}
	ctx := context.Background()

	reading := sample.Sample{Measurement: "env", Tags: map[string]string{"device": "th"}, Fields: map[string]any{"t": 21.0},
		Time: clk.Now().Add(-2 * time.Second)} // stamped by the edge 2 s before it reached the sink
	self := sample.Sample{Measurement: MeasurementEdge, Tags: map[string]string{"device": "edge"}, Fields: map[string]any{"up": true}, Time: clk.Now()}
	deviceTime := time.Date(2026, 3, 1, 11, 58, 0, 0, time.UTC)
	locker := sample.Event("bank1", "locker_deposit", sample.SeverityInfo, "deposit", deviceTime, nil)
	if err := sink.Append(ctx, reading, self, locker); err != nil {
		t.Fatalf("Append while the clock is unset: %v (the device would get no acknowledgement)", err)
	}
	if got := bufferedTimes(t, buf); len(got) != 1 || !got[sample.MeasurementEvents].Equal(deviceTime) {
		t.Fatalf("buffer holds %v, want only the locker event at its device time", got)
	}

	// NTP steps the wall clock 90 monotonic seconds after boot.
	sane := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk.set(sane, 90*time.Second)
	if err := sink.releaseHeld(ctx); err != nil {
		t.Fatal(err)
	}
	got := bufferedTimes(t, buf)
	if want := sane.Add(-30 * time.Second).Add(-2 * time.Second); !got["env"].Equal(want) {
		t.Errorf("reading stamped %v, want %v", got["env"], want)
	}
	if want := sane.Add(-30 * time.Second); !got[MeasurementEdge].Equal(want) {
		t.Errorf("edge telemetry stamped %v, want %v", got[MeasurementEdge], want)
	}
	if sink.hold.pending() != 0 || buf.Stats().Dropped["invalid"] != 0 {
		t.Errorf("pending %d, dropped %v", sink.hold.pending(), buf.Stats().Dropped)
	}
}
