package uplink

import (
	"fmt"
	"testing"
	"time"
)

// 7,000 offices' 1 min windows spread over the first half minute: no
// second carries much more than its share, and each office keeps its delay.
func TestWindowSendDelaySpreadsOfficesOverHalfAWindow(t *testing.T) {
	const offices, every = 7000, time.Minute
	perSecond := map[int]int{}
	for i := range offices {
		id := fmt.Sprintf("%05d", 10000+i)
		d := WindowSendDelay(id, every)
		if d < 0 || d >= every/2 {
			t.Fatalf("office %s waits %s, want [0, %s)", id, d, every/2)
		}
		if WindowSendDelay(id, every) != d {
			t.Fatalf("office %s: the delay changed between calls", id)
		}
		perSecond[int(d/time.Second)]++
	}
	if len(perSecond) != 30 {
		t.Fatalf("offices send in %d distinct seconds, want all 30", len(perSecond))
	}
	for s, n := range perSecond {
		if n > 2*offices/30 {
			t.Errorf("second %d carries %d offices, more than twice its share (%d)", s, n, offices/30)
		}
	}
}
