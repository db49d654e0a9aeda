// Package cpuprofile is the daemons' -cpuprofile flag: a CPU profile of the
// whole run, so a load test can see where an office's or the fleet's CPU goes.
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start profiles into path until the returned stop runs (at exit, after the
// shutdown).
func Start(path string) (stop func(), err error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}
