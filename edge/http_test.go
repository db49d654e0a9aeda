package edge

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestLocalHTTPAPIReportsBufferAndDrops(t *testing.T) {
	d, _ := startEdge(t, edgeConfig(t, dataDir(t), "")) // no uplink: everything stays buffered
	appendSamples(t, d, 0, 250)
	bad := sample.Sample{Measurement: "e2e", Fields: map[string]any{"x": 1.0}} // no time: invalid
	if err := d.Sink().Append(t.Context(), bad); err == nil {
		t.Fatal("an invalid sample was accepted")
	}
	base := "http://" + d.HTTPAddr()
	if code, body := get(t, base+"/livez"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/livez: %d %q", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	code, body := get(t, base+"/api/v1/status")
	if code != 200 {
		t.Fatalf("/api/v1/status: %d", code)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Office != testOffice || st.Buffer.Count != 250 || st.Buffer.Dropped["invalid"] != 1 || st.OldestAgeS <= 0 {
		t.Fatalf("status does not show the buffer: %+v", st)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		"polis_edge_buffer_samples 250",
		`polis_edge_dropped_samples_total{reason="invalid"} 1`,
		"# TYPE polis_edge_buffer_oldest_age_seconds gauge",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestSelfTelemetryReachesInfluxDB(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	cfg := edgeConfig(t, dataDir(t), f.Addrs().MQTT)
	cfg.Telemetry.Interval = time.Second
	startEdge(t, cfg)
	waitFor(t, 60*time.Second, "polis_edge points with uplink_connected=true", func() bool {
		s, err := in.Query(`SELECT count("buffer_samples") FROM "polis_edge" WHERE "office"='12345' AND "uplink_connected"=true`)
		return err == nil && len(s) > 0
	})
}

func TestCorruptStateDBIsMovedAside(t *testing.T) {
	dir := dataDir(t)
	os.MkdirAll(dir, 0o750)
	state := filepath.Join(dir, "state.db")
	os.WriteFile(state, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600)
	startEdge(t, edgeConfig(t, dir, ""))
	matches, _ := filepath.Glob(state + ".corrupt-*")
	if len(matches) != 1 {
		t.Fatalf("want the corrupt state db moved aside, found %v", matches)
	}
}
