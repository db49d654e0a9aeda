package edge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/testserver"
)

func adminCall(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// TestRemoteConfigThroughFleet: an admin stores a template, rolls it out
// to the office with per-office values; the fleet validates with the edge's
// validator, pushes the version, the edge validates again, stores it and
// acks; desired and applied versions match. A config that does not validate
// is refused by the fleet (nothing stored); one that would move the
// data_dir is refused by the edge, whose running config stays.
func TestRemoteConfigThroughFleet(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	if err := f.Users().Add("root", "admin-password", users.Admin, users.Scope{}); err != nil {
		t.Fatal(err)
	}
	token, _, _ := f.Users().NewToken("root", "test")
	base := "http://" + f.Addrs().HTTP
	dir := dataDir(t)
	serveEdge(t, parseEdge(t, dir, f.Addrs().MQTT, ""))
	waitFor(t, 30*time.Second, "office online", func() bool { o, _ := f.Office(testOffice); return o.Online })

	tpl := fmt.Sprintf(`office: {id: "{{.Office.ID}}", name: "{{.Values.name}}"}
data_dir: %q
buffer: {commit_interval: 20ms}
uplink: {url: "tcp://%s", password: %q, reconnect_min: 100ms, reconnect_max: 500ms}
http: {listen: "127.0.0.1:0"}
telemetry: {interval: {{.Values.telemetry}}}
`, dir, f.Addrs().MQTT, testPassword)
	if code, b := adminCall(t, "PUT", base+"/api/v1/config/templates/standard", token, map[string]string{"text": tpl}); code != http.StatusNoContent {
		t.Fatalf("template: %d %s", code, b)
	}
	// A value missing for a placeholder: refused before anything is pushed.
	if code, b := adminCall(t, "POST", base+"/api/v1/config/rollout", token, map[string]any{"template": "standard", "percent": 100,
		"defaults": map[string]string{"telemetry": "30s"}}); code != http.StatusBadRequest || !strings.Contains(string(b), "name") {
		t.Fatalf("rollout without a value: %d %s", code, b)
	}
	code, b := adminCall(t, "POST", base+"/api/v1/config/rollout", token, map[string]any{"template": "standard", "percent": 100,
		"defaults": map[string]string{"telemetry": "30s"}, "values": map[string]map[string]string{testOffice: {"name": "UP Bardi"}}})
	if code != http.StatusOK || !strings.Contains(string(b), `"version": 1`) {
		t.Fatalf("rollout: %d %s", code, b)
	}
	type state struct {
		Status struct {
			Desired, Applied int64
			Outcome, Reason  string
			RestartNeeded    []string `json:"restart_needed"`
		} `json:"status"`
		Versions []struct{ Version int64 } `json:"versions"`
	}
	get := func() state {
		_, b := adminCall(t, "GET", base+"/api/v1/offices/"+testOffice+"/config", token, nil)
		var s state
		json.Unmarshal(b, &s)
		return s
	}
	waitFor(t, 30*time.Second, "version 1 applied", func() bool { return get().Status.Applied == 1 })
	if s := get(); s.Status.Desired != 1 || s.Status.Outcome != "applied" || !strings.Contains(strings.Join(s.Status.RestartNeeded, ","), "telemetry") {
		t.Fatalf("after rollout: %+v", s)
	}
	stored, err := os.ReadFile(filepath.Join(dir, RemoteConfigFile))
	if err != nil || !strings.Contains(string(stored), "UP Bardi") {
		t.Fatalf("stored remote config: %v %q", err, stored)
	}

	// Does not validate: 400 from the fleet, no version 2.
	if code, b := adminCall(t, "POST", base+"/api/v1/offices/"+testOffice+"/config", token, map[string]string{"yaml": "office: {id: \"" + testOffice + "\"}\ncolour: red\n"}); code != http.StatusBadRequest {
		t.Fatalf("invalid config: %d %s", code, b)
	}
	// Valid, but moves the data_dir (where state.db and the buffer live):
	// the edge refuses it and its running config stays.
	moved := strings.Replace(strings.Replace(tpl, "{{.Office.ID}}", testOffice, 1), "{{.Values.name}}", "x", 1)
	moved = strings.Replace(moved, "{{.Values.telemetry}}", "1h", 1)
	moved = strings.Replace(moved, fmt.Sprintf("data_dir: %q", dir), fmt.Sprintf("data_dir: %q", dir+"-elsewhere"), 1)
	if code, b := adminCall(t, "POST", base+"/api/v1/offices/"+testOffice+"/config", token, map[string]string{"yaml": moved}); code != http.StatusCreated {
		t.Fatalf("push: %d %s", code, b)
	}
	waitFor(t, 30*time.Second, "version 2 answered", func() bool { s := get(); return s.Status.Outcome == "refused" })
	if s := get(); s.Status.Desired != 2 || s.Status.Applied != 1 || !strings.Contains(s.Status.Reason, "data_dir") || len(s.Versions) != 2 {
		t.Fatalf("after a refused push: %+v", s)
	}
}
