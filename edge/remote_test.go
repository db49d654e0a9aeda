package edge

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/fleet/commands"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/testserver"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// fleetCommand posts a command through the fleet API as user token.
func fleetCommand(t *testing.T, base, token string, body map[string]any) (int, commands.Record) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+"/api/v1/offices/"+testOffice+"/commands", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rec commands.Record
	json.Unmarshal(raw, &rec)
	if resp.StatusCode/100 != 2 {
		t.Logf("POST command: %d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, rec
}

func fleetRecord(t *testing.T, base, token, id string) commands.Record {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/commands/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec commands.Record
	json.NewDecoder(resp.Body).Decode(&rec)
	return rec
}

// commandAudits counts the edge's audit entries for an action on a device.
func commandAudits(t *testing.T, d *Daemon, action, device string) int {
	t.Helper()
	n := 0
	entries, err := d.auditEntries()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "command:"+action && e.Target == device && e.Result != wire.CmdTimedOut {
			n++
		}
	}
	return n
}

// TestRemoteCommandsThroughFleet: an operator's command goes from the fleet
// API over the cmd topic to the edge's charger driver and its result comes
// back (done; device_offline for a charger not connected); a retry with the
// same idempotency key is not executed again, not even when the fleet
// resends it after the edge reconnects; a command that expired while the
// office was offline is timed_out and never executed.
func TestRemoteCommandsThroughFleet(t *testing.T) {
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	if err := f.Users().Add("op", "operator-password", users.Operator, users.Scope{}); err != nil {
		t.Fatal(err)
	}
	token, _, err := f.Users().NewToken("op", "test")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + f.Addrs().HTTP
	dir := dataDir(t)
	cfg := parseEdge(t, dir, f.Addrs().MQTT, `
ocpp:
  listen: 127.0.0.1:0
  security_profile: 1
  chargers:
    - {id: CP01, password: "sixteen-chars-pw", connectors: 1}
    - {id: CP02, password: "sixteen-chars-pw", connectors: 1}
`)
	d, stop := startEdge(t, cfg)
	cp, err := ocppsim.New(ocppsim.Config{URL: "ws://" + d.OCPP().Addr().String() + "/ocpp", ID: "CP01",
		Password: "sixteen-chars-pw", Tick: 100 * time.Millisecond}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	go cp.Run(t.Context())
	waitFor(t, 30*time.Second, "the charger to connect", cp.Connected)
	waitFor(t, 30*time.Second, "the fleet to know the office's chargers", func() bool {
		o, ok := f.Office(testOffice)
		_, c1 := o.Devices["CP01"]
		_, c2 := o.Devices["CP02"]
		return ok && o.Online && c1 && c2
	})

	code, rec := fleetCommand(t, base, token, map[string]any{"id": "reset-1", "action": "charger_reset", "device": "CP01", "params": map[string]any{"hard": false}})
	if code != http.StatusAccepted || rec.Status != "sent" {
		t.Fatalf("send: %d %+v", code, rec)
	}
	waitFor(t, 30*time.Second, "reset result", func() bool { return fleetRecord(t, base, token, "reset-1").Final() })
	if got := fleetRecord(t, base, token, "reset-1"); got.Status != wire.CmdDone || got.User != "op" {
		t.Fatalf("reset result: %+v", got)
	}
	// The same key again: answered from the record, not executed again.
	if code, again := fleetCommand(t, base, token, map[string]any{"id": "reset-1", "action": "charger_reset", "device": "CP01", "params": map[string]any{"hard": false}}); code != http.StatusOK || again.Status != wire.CmdDone {
		t.Fatalf("retry: %d %+v", code, again)
	}
	// Redelivery straight to the edge (as after a reconnect) is answered from state.db.
	cmd := wire.Command{ID: "reset-1", Action: "charger_reset", Device: "CP01", Params: json.RawMessage(`{"hard":false}`),
		User: "op", Issued: time.Now(), Expires: time.Now().Add(time.Minute)}
	if res := d.runCommand(Operator{Name: "fleet:op", Role: "operator"}, cmd); res.Status != wire.CmdDone {
		t.Fatalf("redelivered: %+v", res)
	}
	if n := commandAudits(t, d, "charger_reset", "CP01"); n != 1 {
		t.Fatalf("charger_reset executed %d times, want 1", n)
	}

	fleetCommand(t, base, token, map[string]any{"id": "unlock-2", "action": "charger_unlock", "device": "CP02", "params": map[string]any{"connector": 1}})
	waitFor(t, 30*time.Second, "unlock result", func() bool { return fleetRecord(t, base, token, "unlock-2").Final() })
	if got := fleetRecord(t, base, token, "unlock-2"); got.Status != wire.CmdDeviceOffline {
		t.Fatalf("command to a charger not connected: %+v", got)
	}

	// Bad input: unknown device, unknown action, bad params -> 400, nothing sent.
	for _, body := range []map[string]any{
		{"action": "charger_reset", "device": "CP99"},
		{"action": "self_destruct", "device": "CP01"},
		{"action": "charger_reset", "device": "CP01", "ttl_s": 99999},
	} {
		if code, _ := fleetCommand(t, base, token, body); code != http.StatusBadRequest {
			t.Fatalf("bad command %v: %d", body, code)
		}
	}

	// Office offline: a command with a short TTL expires unanswered and is
	// never executed when the office comes back.
	stop()
	waitFor(t, 30*time.Second, "office offline", func() bool { o, _ := f.Office(testOffice); return !o.Online })
	fleetCommand(t, base, token, map[string]any{"id": "late-3", "action": "charger_reset", "device": "CP01", "ttl_s": 1})
	waitFor(t, 30*time.Second, "late command timed out", func() bool { return fleetRecord(t, base, token, "late-3").Final() })
	if got := fleetRecord(t, base, token, "late-3"); got.Status != wire.CmdTimedOut {
		t.Fatalf("expired command: %+v", got)
	}
	d2, _ := startEdge(t, cfg)
	waitFor(t, 30*time.Second, "office back online", func() bool { o, _ := f.Office(testOffice); return o.Online })
	// A command sent after it returns proves the channel works again; the
	// expired one must not have run before it.
	fleetCommand(t, base, token, map[string]any{"id": "after-4", "action": "charger_unlock", "device": "CP02"})
	waitFor(t, 30*time.Second, "command after return", func() bool { return fleetRecord(t, base, token, "after-4").Final() })
	if n := commandAudits(t, d2, "charger_reset", "CP01"); n != 1 {
		t.Fatalf("charger_reset audited %d times after return, want 1 (the expired one never runs)", n)
	}
	if n := commandAudits(t, d2, "charger_unlock", "CP02"); n != 2 {
		t.Fatalf("unlock audits: %d, want 2", n)
	}
}

// commandStarted reports whether the edge has a record of command id.
func (d *Daemon) commandStarted(id string) bool {
	found := false
	d.state.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(commandsBucket); b != nil {
			found = b.Get([]byte(id)) != nil
		}
		return nil
	})
	return found
}

// auditEntries reads the edge's audit trail.
func (d *Daemon) auditEntries() ([]AuditEntry, error) {
	var out []AuditEntry
	err := d.state.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(auditBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}
