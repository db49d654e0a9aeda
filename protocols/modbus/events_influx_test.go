package modbus_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

// Three SunSpec event bits raised in one poll share device, kind and poll
// time: they must land in InfluxDB as three points, and delivering the same
// lines again (an uplink resend) must not add any.
func TestEventBitsOfOnePollAreDistinctPointsInInflux(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := testserver.Influx(t)
	sim := startSim(t, ctx, nil)
	_, rec := startService(t, ctx, config(deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))}))
	waitFor(t, "mppt", func() bool { s := rec.last("pv", "inv1"); return s != nil && s.Fields["state"] == "mppt" })
	// GRID_DISCONNECT, UNDER_FREQUENCY, AC_UNDER_VOLT
	if err := sim.SetInverterFault("inv1", 1<<4|1<<9|1<<11); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three event bits", func() bool { return len(rec.events("inv1", "inverter_event")) == 3 })
	var lines []byte
	for _, e := range rec.Find(func(s sample.Sample) bool { return s.Measurement == sample.MeasurementEvents }) {
		var err error
		if lines, err = e.AppendLine(lines); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second write is a redelivery
		resp, err := http.Post(in.URL+"/write?db="+in.DB+"&precision=ns", "text/plain", bytes.NewReader(lines))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("write: %s %s", resp.Status, body)
		}
	}
	n, err := in.Count(sample.MeasurementEvents, fmt.Sprintf("kind = '%s'", "inverter_event"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("InfluxDB holds %d inverter_event points for 3 bits raised in one poll (and their redelivery), want 3", n)
	}
}
