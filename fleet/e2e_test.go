package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/registry"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if u, err := neturl.Parse(url); err == nil {
		if tok, ok := testTokens.Load(u.Host); ok {
			req.Header.Set("Authorization", "Bearer "+tok.(string))
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// eventually is the project's one wait helper (protocols/testserver).
var eventually = testserver.WaitFor

func TestEndToEndBatchesReachInfluxWithRegistryTags(t *testing.T) {
	t.Parallel()
	in := testserver.Influx(t)
	f := startFleet(t, testConfig(in))
	addr := f.Addrs()
	o, err := connectOffice(t, addr.MQTT, "10001", "secret-a", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.subscribeAcks("10001"); err != nil {
		t.Fatal(err)
	}
	online, _ := jsonStatus("10001", true)
	o.c.Publish(uplink.Topic("10001", uplink.KindStatus), 1, true, online).WaitTimeout(deadline)

	o.sendBatch(t, batch(t, "10001", 1, 50))
	b2 := batch(t, "10001", 51, 50)
	ev := sample.Event("locker1", "locker_tamper", sample.SeverityCritical, "door forced", t0.Add(time.Hour), nil)
	b2.Lines, _ = ev.AppendLine(b2.Lines)
	b2.Last, b2.Count = 101, 51
	o.sendBatch(t, b2)

	for _, want := range []struct {
		seq uint64
		n   int
	}{{1, 50}, {51, 51}} {
		a := o.waitAck(t, want.seq)
		if a.Status != uplink.AckOK || a.Accepted != want.n || a.Rejected != 0 {
			t.Fatalf("ack for seq %d = %+v, want ok with %d accepted", want.seq, a, want.n)
		}
	}
	// The ack comes after InfluxDB accepted: rows are there at once, tagged for analysts.
	if n := countRows(t, in, "pv", "office='10001' AND region='Lazio' AND province='RM' AND istat='058091' AND device='inv1'"); n != 100 {
		t.Fatalf("pv rows with registry tags = %d, want 100", n)
	}
	if n := countRows(t, in, "events", "office='10001' AND kind='locker_tamper'"); n != 1 {
		t.Fatalf("event rows = %d, want 1", n)
	}

	base := "http://" + addr.HTTP
	var got registry.Office
	eventually(t, "office online with 2 batches", func() bool {
		getJSON(t, base+"/api/v1/offices/10001", &got)
		return got.Online && got.Batches == 2
	})
	if got.SamplesAccepted != 101 || got.Backlog != 42 || got.Version != "1.2.3" || got.Region != "Lazio" || len(got.OpenAlarms) != 1 {
		t.Fatalf("office state = %+v", got)
	}
	var alarms []alarms.Alarm
	getJSON(t, base+"/api/v1/alarms", &alarms)
	if len(alarms) != 1 || alarms[0].Kind != "locker_tamper" || alarms[0].Severity != "critical" || alarms[0].Office != "10001" {
		t.Fatalf("alarms = %+v", alarms)
	}
	var lazio, emilia []registry.Office
	getJSON(t, base+"/api/v1/offices?region=Lazio", &lazio)
	getJSON(t, base+"/api/v1/offices?region=Emilia-Romagna", &emilia)
	if len(lazio) != 1 || lazio[0].ID != "10001" || len(emilia) != 1 || emilia[0].Online {
		t.Fatalf("region filter: lazio=%+v emilia=%+v", lazio, emilia)
	}
	if code := getJSON(t, base+"/api/v1/offices/99999", nil); code != http.StatusNotFound {
		t.Fatalf("unknown office: %d", code)
	}
	if code := getJSON(t, base+"/readyz", nil); code != http.StatusOK {
		t.Fatalf("readyz = %d", code)
	}
	metrics := httpText(t, base+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(metrics)); err != nil {
		t.Fatalf("/metrics is not valid exposition: %v\n%s", err, metrics)
	}
	for _, want := range []string{`polis_fleet_batches_total{status="ok"} 2`, `polis_fleet_samples_total{reason="",result="accepted"} 101`, "polis_fleet_offices_online 1"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q:\n%s", want, metrics)
		}
	}
	if page := httpText(t, base+"/"); !strings.Contains(page, "Polis") {
		t.Fatalf("dashboard page: %.200s", page)
	}

	// A dead link (no DISCONNECT) fires the last will: the office goes offline.
	o.conn.Close()
	eventually(t, "office offline after last will", func() bool {
		getJSON(t, base+"/api/v1/offices/10001", &got)
		return !got.Online
	})
	in.Kill() // readiness follows InfluxDB
	if code := getJSON(t, base+"/readyz", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with InfluxDB down = %d", code)
	}
}

func httpText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

var _ = fmt.Sprint
