package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// runFleet runs a fleet until the returned stop is called (or the test ends).
func runFleet(t *testing.T, cfg config.Config) (*Fleet, func()) {
	t.Helper()
	f, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fleet Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return f, stop
}

// apiCall makes an authenticated API request and decodes a 2xx answer into v.
func apiCall(t *testing.T, method, url, token string, body, v any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode/100 == 2 {
		if w, ok := v.(io.Writer); ok {
			io.Copy(w, resp.Body)
		} else if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func findAlarm(list []alarms.Alarm, kind string) (alarms.Alarm, bool) {
	for _, a := range list {
		if a.Kind == kind {
			return a, true
		}
	}
	return alarms.Alarm{}, false
}

// TestStateSurvivesRestart: users, alarms (with who acknowledged, and what
// cleared itself) and the audit trail are all there after a fleet restart;
// a backup taken over HTTP while running is a usable copy.
func TestStateSurvivesRestart(t *testing.T) {
	in := testserver.Influx(t)
	cfg := testConfig(in)
	cfg.DataDir = t.TempDir()
	cfg.Alarms.OfflineAfter = time.Hour
	f, stop := runFleet(t, cfg)
	f.Users().SetCost(4)
	if err := f.Users().Add("anna", "anna-password-1", users.Operator, users.Scope{Region: "Lazio"}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.Users().NewToken("anna", "test")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + f.Addrs().HTTP

	o := mustOffice(t, f.Addrs().MQTT, "10001", "secret-a")
	if err := o.subscribeAcks("10001"); err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(uplink.Status{Office: "10001", Online: true, Time: time.Now(), Devices: map[string]string{"inv1": "unreachable"}})
	o.publish(t, uplink.Topic("10001", uplink.KindStatus), st)
	b := batch(t, "10001", 1, 1)
	ev := sample.Event("locker1", "locker_tamper", sample.SeverityCritical, "door forced", t0, nil)
	b.Lines, _ = ev.AppendLine(b.Lines)
	b.Last, b.Count = 2, 2
	o.sendBatch(t, b)
	o.waitAck(t, 1)

	var open []alarms.Alarm
	eventually(t, "two open alarms", func() bool {
		apiCall(t, "GET", base+"/api/v1/alarms?sort=severity", tok, nil, &open)
		return len(open) == 2
	})
	tamper, _ := findAlarm(open, "locker_tamper")
	if open[0].Kind != "locker_tamper" || tamper.Severity != "critical" {
		t.Fatalf("open alarms by severity: %+v", open)
	}
	if code := apiCall(t, "POST", base+"/api/v1/alarms/"+tamper.ID+"/ack", tok, map[string]string{"comment": "technician called"}, nil); code != 200 {
		t.Fatalf("ack: %d", code)
	}
	// The device comes back: its alarm clears by itself.
	st, _ = json.Marshal(uplink.Status{Office: "10001", Online: true, Time: time.Now(), Devices: map[string]string{"inv1": "ok"}})
	o.publish(t, uplink.Topic("10001", uplink.KindStatus), st)
	eventually(t, "device alarm cleared", func() bool {
		apiCall(t, "GET", base+"/api/v1/alarms", tok, nil, &open)
		d, ok := findAlarm(open, "device_unreachable")
		return ok && !d.Active && d.ClearedBy == "auto"
	})

	// Backup over HTTP while running (fleet-wide admin).
	var backup bytes.Buffer
	if code := apiCall(t, "GET", base+"/api/v1/backup", testTokenOf(t, f), nil, &backup); code != 200 || backup.Len() == 0 {
		t.Fatalf("backup: %d, %d bytes", code, backup.Len())
	}
	stop()

	copyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(copyDir, state.FileName), backup.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := state.Open(copyDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.New(cp).Authenticate("anna", "anna-password-1"); err != nil {
		t.Fatalf("backup copy: %v", err)
	}
	cp.Close()

	// Restart on the same data_dir.
	cfg.HTTP.Listen, cfg.Broker.Embedded.TCP = "127.0.0.1:0", "127.0.0.1:0"
	f2, _ := runFleet(t, cfg)
	base = "http://" + f2.Addrs().HTTP
	if code := apiCall(t, "POST", base+"/api/v1/login", "", map[string]string{"user": "anna", "password": "anna-password-1"}, nil); code != 200 {
		t.Fatalf("login after restart: %d", code)
	}
	var hist []alarms.Alarm
	apiCall(t, "GET", base+"/api/v1/alarms/history?office=10001", tok, nil, &hist)
	tamper, ok := findAlarm(hist, "locker_tamper")
	if !ok || !tamper.Acked || tamper.AckedBy != "anna" || tamper.AckComment != "technician called" || !tamper.Active {
		t.Fatalf("tamper alarm after restart: %+v", hist)
	}
	if d, ok := findAlarm(hist, "device_unreachable"); !ok || d.Active || d.ClearedBy != "auto" {
		t.Fatalf("device alarm after restart: %+v", hist)
	}
	var trail []audit.Entry
	apiCall(t, "GET", base+"/api/v1/audit", testTokenOf(t, f2), nil, &trail)
	found := false
	for _, e := range trail {
		found = found || (e.Action == "alarm_ack" && e.User == "anna" && e.Office == "10001")
	}
	if !found {
		t.Fatalf("audit after restart lacks anna's ack: %+v", trail)
	}
}

// testTokenOf returns the fleet-wide admin token startFleet-style helpers
// create, making one if the fleet has none yet.
func testTokenOf(t *testing.T, f *Fleet) string {
	t.Helper()
	if tok, ok := testTokens.Load(f.Addrs().HTTP); ok {
		return tok.(string)
	}
	f.Users().SetCost(4)
	if err := f.Users().Add("test-admin", "test-admin-password", users.Admin, users.Scope{}); err != nil && !isExists(err) {
		t.Fatal(err)
	}
	secret, _, err := f.Users().NewToken("test-admin", "tests")
	if err != nil {
		t.Fatal(err)
	}
	testTokens.Store(f.Addrs().HTTP, secret)
	return secret
}

func isExists(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("user exists"))
}

// TestOfficeOfflineAlarm: an office silent longer than offline_after gets
// office_offline, cleared by itself when the office speaks again.
func TestOfficeOfflineAlarm(t *testing.T) {
	in := testserver.Influx(t)
	cfg := testConfig(in)
	cfg.Alarms.OfflineAfter = 500 * time.Millisecond
	f, _ := runFleet(t, cfg)
	tok := testTokenOf(t, f)
	base := "http://" + f.Addrs().HTTP
	var open []alarms.Alarm
	eventually(t, "office_offline for 20002", func() bool {
		apiCall(t, "GET", base+"/api/v1/alarms?office=20002", tok, nil, &open)
		a, ok := findAlarm(open, alarms.OfficeOffline)
		return ok && a.Active && a.Severity == "critical" && a.Region == "Emilia-Romagna"
	})
	o := mustOffice(t, f.Addrs().MQTT, "20002", "secret-b")
	st, _ := json.Marshal(uplink.Status{Office: "20002", Online: true, Time: time.Now()})
	o.publish(t, uplink.Topic("20002", uplink.KindStatus), st)
	var hist []alarms.Alarm
	eventually(t, "office_offline cleared", func() bool {
		apiCall(t, "GET", base+"/api/v1/alarms/history?office=20002", tok, nil, &hist)
		for _, a := range hist {
			if a.Kind == alarms.OfficeOffline && !a.Active && a.ClearedBy == "auto" {
				return true
			}
		}
		return false
	})
}
