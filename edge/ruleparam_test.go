package edge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// TestRuleParamCommandOnLocalAPI: an installer's command on the local API
// (operator token) sets the contracted power, which the rules use from the
// next cycle; a viewer token is refused; a bad value is refused with a
// reason and changes nothing; the same id is not executed twice.
func TestRuleParamCommandOnLocalAPI(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
office: {id: %q}
data_dir: %q
uplink: {enabled: false}
http:
  listen: "127.0.0.1:0"
  operators:
    - {name: inst, token: "installer-token-0123", role: operator}
    - {name: look, token: "viewer-token-0123456", role: viewer}
rules: {contracted_kw: 6, cycle: 100ms}
`, testOffice, dataDir(t))))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startEdge(t, cfg)
	waitFor(t, 10*time.Second, "a cycle at 6 kW", func() bool { return math.Abs(d.Rules().Allocation().AvailableW-6400) < 1 })
	post := func(token string, body map[string]any) (int, wire.CommandResult) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+d.HTTPAddr()+"/api/v1/commands", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r wire.CommandResult
		json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r
	}
	set10 := map[string]any{"id": "kw-10", "action": "rule_param", "device": "rules", "params": map[string]any{"name": "contracted_kw", "value": 10}}
	if code, _ := post("viewer-token-0123456", set10); code != http.StatusForbidden {
		t.Fatalf("viewer: %d", code)
	}
	if code, r := post("installer-token-0123", map[string]any{"id": "kw-bad", "action": "rule_param", "device": "rules",
		"params": map[string]any{"name": "contracted_kw", "value": -3}}); code != http.StatusOK || r.Status != wire.CmdRefused || r.Reason == "" {
		t.Fatalf("bad value: %d %+v", code, r)
	}
	if code, r := post("installer-token-0123", set10); code != http.StatusOK || r.Status != wire.CmdDone {
		t.Fatalf("set: %d %+v", code, r)
	}
	waitFor(t, 10*time.Second, "a cycle at 10 kW", func() bool { return math.Abs(d.Rules().Allocation().AvailableW-10800) < 1 })
	if code, r := post("installer-token-0123", set10); code != http.StatusOK || r.Status != wire.CmdDone {
		t.Fatalf("repeat: %d %+v", code, r)
	}
	if n := commandAudits(t, d, "rule_param", "rules"); n != 2 { // the refused one and the one that ran; the repeat is answered from state.db
		t.Fatalf("rule_param audited %d times, want 2", n)
	}
}
