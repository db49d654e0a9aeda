package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/testserver"
)

// TestOfficeLiveAndLockerEventsAPI: the office page's live values and
// locker events over real HTTP from a real InfluxDB, for a region-scoped
// viewer: its office's data, nothing of another office, a bad range
// refused, and InfluxDB down answered 503 in the error shape.
func TestOfficeLiveAndLockerEventsAPI(t *testing.T) {
	in := testserver.Influx(t)
	e := newEnv(t, Options{}, in)
	now := time.Now()
	ms := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	lines := []string{
		fmt.Sprintf(`evse,device=CP01,connector=1,office=30001,region=Basilicata,province=PZ status="Charging",power_w=7200 %d`, ms(time.Minute)),
		fmt.Sprintf(`env,device=s1,office=30001,region=Basilicata,province=PZ temperature_c=23.4 %d`, ms(time.Minute)),
		fmt.Sprintf(`evse,device=CP77,connector=1,office=30002,region=Basilicata,province=MT status="Faulted" %d`, ms(time.Minute)),
		fmt.Sprintf(`events,device=locker1,kind=locker_pickup,office=30001,region=Basilicata,province=PZ message="picked up",severity="info",compartment="A01" %d`, ms(time.Hour)),
		fmt.Sprintf(`events,device=locker9,kind=locker_tamper,office=30002,region=Basilicata,province=MT message="other office",severity="critical" %d`, ms(time.Hour)),
	}
	u := in.URL + "/write?" + url.Values{"db": {in.DB}, "precision": {"ms"}, "u": {"polis"}, "p": {"polis"}}.Encode()
	resp, err := http.Post(u, "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}

	code, b := e.do("GET", "/api/v1/offices/30001/live", nil, e.as("pz-operator"))
	var live struct {
		Rows []struct {
			Measurement, Device, Connector string
			Values                         map[string]struct {
				V     any       `json:"v"`
				Time  time.Time `json:"time"`
				Stale bool      `json:"stale"`
			}
		}
	}
	if err := json.Unmarshal(b, &live); code != http.StatusOK || err != nil {
		t.Fatalf("live: %d %v %s", code, err, b)
	}
	got := map[string]any{}
	for _, r := range live.Rows {
		for f, v := range r.Values {
			got[r.Measurement+"/"+r.Device+"/"+r.Connector+"/"+f] = v.V
			if v.Time.IsZero() || v.Stale {
				t.Errorf("%s %s: time %v stale %v", r.Device, f, v.Time, v.Stale)
			}
		}
	}
	if got["evse/CP01/1/status"] != "Charging" || got["evse/CP01/1/power_w"] != 7200.0 || got["env/s1//temperature_c"] != 23.4 || strings.Contains(string(b), "CP77") {
		t.Fatalf("live values of 30001: %v", got)
	}
	code, b = e.do("GET", "/api/v1/offices/30001/locker-events", nil, e.as("pz-operator"))
	if code != http.StatusOK || !strings.Contains(string(b), `"locker_pickup"`) || !strings.Contains(string(b), `"A01"`) || strings.Contains(string(b), "locker9") {
		t.Fatalf("locker events: %d %s", code, b)
	}
	if code, b := e.do("GET", "/api/v1/offices/30001/locker-events?from=yesterday", nil, e.as("pz-operator")); code != http.StatusBadRequest || !strings.Contains(string(b), `"bad_request"`) {
		t.Fatalf("bad from: %d %s", code, b)
	}
	if code, _ := e.do("GET", "/api/v1/offices/30002/live", nil, e.as("pz-operator")); code != http.StatusForbidden {
		t.Fatalf("PZ operator reading the MT office's live values: %d", code)
	}

	down := newEnv(t, Options{}) // no InfluxDB
	for _, path := range []string{"/api/v1/offices/30001/live", "/api/v1/offices/30001/locker-events"} {
		if code, b := down.do("GET", path, nil, down.as("viewer")); code != http.StatusServiceUnavailable || !strings.Contains(string(b), `"error"`) {
			t.Fatalf("%s with InfluxDB down: %d %s", path, code, b)
		}
	}
}
