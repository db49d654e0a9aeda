package rules

import (
	"context"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// A meter reading that arrives right after a cycle (within minGap) must
// still be acted on at the end of the gap, not a whole cycle later: with
// the meter polled at the cycle's period the two lock in phase and every
// reading would otherwise wait a cycle. The cycle here is a minute, so
// only the deferred wake can run the second cycle.
func TestMeterReadWithinTheGapIsDeferredNotDropped(t *testing.T) {
	cfg := Config{ContractedKW: 6, GridMeter: "meter", Cycle: time.Minute}
	cfg.ApplyDefaults()
	img := &fakeImage{}
	img.set("grid", "meter", "power_w", 1000.0, time.Now())
	var rec testserver.Recorder
	r, err := NewRunner(cfg, Deps{Image: img, Sink: &rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	cycles := func() uint64 { return r.Allocation().Cycles }
	r.MeterRead()
	testserver.WaitFor(t, "the first reading's cycle", func() bool { return cycles() == 1 })
	r.MeterRead() // at once: inside the gap
	testserver.WaitFor(t, "the second reading's cycle", func() bool { return cycles() == 2 })
	if n := cycles(); n != 2 {
		t.Fatalf("%d cycles for two readings, want 2", n)
	}
}
