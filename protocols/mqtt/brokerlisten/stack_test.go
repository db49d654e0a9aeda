package brokerlisten

import (
	"runtime"
	"sync"
	"testing"
)

// TestGrowStackGrowsOnce checks that growStack really leaves the goroutine
// on a serveStack-sized stack (a compiler that dropped its frame would make
// it a no-op), against goroutines that do not call it.
func TestGrowStackGrowsOnce(t *testing.T) {
	const n = 200
	perGoroutine := func(grow bool) int64 {
		var ready, release, done sync.WaitGroup
		ready.Add(n)
		done.Add(n)
		release.Add(1)
		runtime.GC() // stacks freed by earlier goroutines go back to the heap first
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			go func() {
				defer done.Done()
				if grow {
					growStack()
				}
				ready.Done()
				release.Wait()
			}()
		}
		ready.Wait()
		runtime.ReadMemStats(&after)
		release.Done()
		done.Wait()
		return (int64(after.StackInuse) - int64(before.StackInuse)) / n
	}
	plain, grown := perGoroutine(false), perGoroutine(true)
	t.Logf("stack per goroutine: %d bytes plain, %d grown", plain, grown)
	if grown < serveStack*3/4 || plain >= serveStack/4 {
		t.Fatalf("stack per goroutine: %d bytes grown, %d plain; want ≥ 3/4 of %d grown and under 1/4 of it plain", grown, plain, serveStack)
	}
}
