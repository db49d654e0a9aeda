package fleetsim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// TestReportCountsFailedConnects: offices that cannot reach a broker show up
// in the report as failed connects with the latest error, not only as
// offices that are not connected (a bench that waits for every office then
// says why some never came).
func TestReportCountsFailedConnects(t *testing.T) {
	port, err := testserver.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := Start(ctx, Config{Broker: fmt.Sprintf("tcp://127.0.0.1:%d", port), Offices: 3, Mix: ReferenceMix, Flush: time.Second})
	testserver.WaitForWithin(t, 30*time.Second, "every office's connect to fail", func() bool { return sim.Report().Failed >= 3 })
	r := sim.Report()
	if r.Connected != 0 || r.Connects != 0 || !strings.Contains(r.LastFail, "refused") {
		t.Fatalf("report %+v: want no connection and the refusal as last error", r)
	}
}
