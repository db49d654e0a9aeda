package edge

import (
	"context"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sdnotify"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestWatchdogStopsWhenSupervisionWedges wedges the loop the watchdog
// watches (its liveness check, which round-trips through the buffer's
// committer) and sees the WATCHDOG=1 pings stop while READY was sent; once
// the check answers again the pings resume. A free-running ticker would keep
// pinging and fail this test.
func TestWatchdogStopsWhenSupervisionWedges(t *testing.T) {
	sock := testserver.Notify(t)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	t.Setenv("WATCHDOG_USEC", "150000") // liveness every 50ms

	d, err := New(edgeConfig(t, dataDir(t), ""), quietLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	n := sdnotify.FromEnv(quietLog())
	d.SetLifecycle(n)
	check := d.alive
	entered, release := make(chan struct{}), make(chan struct{})
	wedge := make(chan bool, 1)
	d.alive = func() error {
		select {
		case <-wedge:
			close(entered)
			<-release
		default:
		}
		return check()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if m := sock.Next(t, 30*time.Second); m != "READY=1" {
		t.Fatalf("first message %q", m)
	}
	for range 3 {
		if m := sock.Next(t, 30*time.Second); m != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", m)
		}
	}
	wedge <- true
	<-entered
	sock.Pending() // pings sent before the loop wedged
	// Twenty watchdog intervals with the loop stuck: systemd would have
	// killed the service three times over. Not one ping may arrive.
	window := time.NewTimer(20 * n.Interval())
	<-window.C
	if got := sock.Pending(); len(got) != 0 {
		t.Fatalf("pings while the supervised loop was wedged: %q", got)
	}
	close(release)
	if m := sock.Next(t, 30*time.Second); m != "WATCHDOG=1" {
		t.Fatalf("after unwedging got %q, want WATCHDOG=1", m)
	}
}
