package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/remoteconfig"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	wire "github.com/polis-edge/polis/protocols/uplink"
)

// servedEdge is a daemon run by Serve, as polis-edge runs it: a remote
// config that needs a restart builds it again in the process.
type servedEdge struct {
	level  slog.LevelVar
	mu     sync.Mutex
	cur    *Daemon
	starts int
	stop   func()
}

func serveEdge(t *testing.T, site config.Config) *servedEdge {
	t.Helper()
	s := &servedEdge{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, site, quietLog(), "test", func(d *Daemon) {
			d.SetLogLevel(&s.level)
			s.mu.Lock()
			s.cur, s.starts = d, s.starts+1
			s.mu.Unlock()
		})
	}()
	stopped := false
	s.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	t.Cleanup(s.stop)
	s.running(t, 1)
	return s
}

// running waits until the daemon of start number n (at least) serves and
// returns it.
func (s *servedEdge) running(t *testing.T, n int) *Daemon {
	t.Helper()
	var d *Daemon
	waitFor(t, 60*time.Second, fmt.Sprintf("daemon start %d", n), func() bool {
		s.mu.Lock()
		d = s.cur
		ok := s.starts >= n
		s.mu.Unlock()
		if !ok || d == nil {
			return false
		}
		select {
		case <-d.ready:
			return true
		default:
			return false
		}
	})
	return d
}

func (s *servedEdge) startCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// edgeYAML is parseEdge's config as a file, with extra uplink keys and
// sections, for pushing from the fleet.
func edgeYAML(dir, mqttAddr, password, uplinkExtra, extra string) string {
	return fmt.Sprintf(`office: {id: %q}
data_dir: %q
buffer: {commit_interval: 20ms}
uplink: {url: "tcp://%s", password: %q, reconnect_min: 100ms, reconnect_max: 500ms%s}
http: {listen: "127.0.0.1:0"}
telemetry: {interval: 1h}
%s`, testOffice, dir, mqttAddr, password, uplinkExtra, extra)
}

type fleetConfigState struct {
	Status   remoteconfig.Status `json:"status"`
	Versions []struct{ Version int64 }
}

func fleetConfig(t *testing.T, base, token string) fleetConfigState {
	t.Helper()
	_, b := adminCall(t, "GET", base+"/api/v1/offices/"+testOffice+"/config", token, nil)
	var s fleetConfigState
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("config state: %v %s", err, b)
	}
	return s
}

func pushConfig(t *testing.T, base, token, yaml string) {
	t.Helper()
	if code, b := adminCall(t, "POST", base+"/api/v1/offices/"+testOffice+"/config", token, map[string]string{"yaml": yaml}); code != http.StatusCreated {
		t.Fatalf("push: %d %s", code, b)
	}
}

// fleetAudit is the fleet's audit trail as an admin reads it.
func fleetAudit(t *testing.T, base, adminToken string) []audit.Entry {
	t.Helper()
	code, b := adminCall(t, "GET", base+"/api/v1/audit?limit=1000", adminToken, nil)
	var out []audit.Entry
	if err := json.Unmarshal(b, &out); code != http.StatusOK || err != nil {
		t.Fatalf("GET audit: %d %v %s", code, err, b)
	}
	return out
}

func adminFleet(t *testing.T) (*runningFleet, string, string) {
	t.Helper()
	in := testserver.Influx(t)
	f := startFleet(t, in, "")
	if err := f.Users().Add("root", "admin-password", users.Admin, users.Scope{}); err != nil {
		t.Fatal(err)
	}
	token, _, err := f.Users().NewToken("root", "test")
	if err != nil {
		t.Fatal(err)
	}
	return f, "http://" + f.Addrs().HTTP, token
}

// TestRemoteConfigRollbackWithoutFleetContact: a pushed config that changes
// the drivers' settings restarts the daemon with it and is confirmed once it
// reaches the fleet; one with a wrong uplink password cannot reach the fleet
// from the real broker, so after its grace time the edge rolls back to the
// last good version, reconnects, and the fleet records rolled_back with the
// reason and version 1 as applied. The given-up version is never applied
// again although the fleet's retained push still carries it.
func TestRemoteConfigRollbackWithoutFleetContact(t *testing.T) {
	f, base, token := adminFleet(t)
	dir := dataDir(t)
	mq := f.Addrs().MQTT
	e := serveEdge(t, parseEdge(t, dir, mq, ""))
	waitFor(t, 30*time.Second, "office online", func() bool { o, _ := f.Office(testOffice); return o.Online })

	pushConfig(t, base, token, edgeYAML(dir, mq, testPassword, "", "ipcheck: {devices: [{id: atm1, kind: atm, check: tcp, address: \"127.0.0.1:1\", interval: 1h}]}\n"))
	waitFor(t, 60*time.Second, "version 1 applied", func() bool { return fleetConfig(t, base, token).Status.Applied == 1 })
	d := e.running(t, 2)
	if got := fleetConfig(t, base, token).Status; got.Outcome != wire.ConfigApplied || !strings.Contains(strings.Join(got.RestartNeeded, ","), "ipcheck") {
		t.Fatalf("version 1: %+v", got)
	}
	if d.RemoteVersion() != 1 || d.Config().IPCheck == nil {
		t.Fatalf("running daemon: version %d, ipcheck %v", d.RemoteVersion(), d.Config().IPCheck)
	}
	waitFor(t, 30*time.Second, "version 1 confirmed", func() bool { rs := d.remoteState(); return !rs.Trial && rs.Good == 1 })

	// Version 2 breaks the uplink credentials; its grace is 2 s.
	pushConfig(t, base, token, edgeYAML(dir, mq, "not-the-password", ", config_grace: 2s", ""))
	waitFor(t, 90*time.Second, "version 2 rolled back and reported", func() bool {
		return fleetConfig(t, base, token).Status.Outcome == wire.ConfigRolledBack
	})
	s := fleetConfig(t, base, token)
	if s.Status.Desired != 2 || s.Status.Applied != 1 || !strings.Contains(s.Status.Reason, "no contact with the fleet") ||
		!strings.Contains(s.Status.Reason, "version 1") {
		t.Fatalf("fleet after the rollback: %+v", s.Status)
	}
	d = e.running(t, 4) // v1, v2, and the rollback to v1
	if d.RemoteVersion() != 1 || d.Config().Uplink.Password != testPassword || d.Config().IPCheck == nil {
		t.Fatalf("after rollback: version %d, password %q", d.RemoteVersion(), d.Config().Uplink.Password)
	}
	waitFor(t, 30*time.Second, "office online again", func() bool { o, _ := f.Office(testOffice); return o.Online })
	stored, _ := os.ReadFile(filepath.Join(dir, RemoteConfigFile))
	if !strings.Contains(string(stored), testPassword) {
		t.Fatalf("remote-config.yaml after rollback:\n%s", stored)
	}
	entries, err := d.auditEntries()
	if err != nil {
		t.Fatal(err)
	}
	var rolled bool
	for _, en := range entries {
		rolled = rolled || (en.Action == "config_rollback" && strings.Contains(en.Error, "version 2"))
	}
	if !rolled {
		t.Fatalf("no config_rollback in the audit trail: %+v", entries)
	}
	waitFor(t, 30*time.Second, "the rollback in the fleet's audit trail", func() bool {
		for _, en := range fleetAudit(t, base, token) {
			if en.Action == "config_ack" && en.Result == wire.ConfigRolledBack && en.Target == "version 2" && strings.Contains(en.Error, "no contact") {
				return true
			}
		}
		return false
	})
	if n := e.startCount(); n != 4 {
		t.Fatalf("daemon started %d times, want 4 (version 2 applied again?)", n)
	}
}

// TestRemoteConfigSurvivesRestart: the applied remote config is read at
// start: after a restart of the process the office still runs it, and the
// fleet shows desired = applied. A damaged remote-config.yaml falls back to
// the last good copy. A version pushed while the office is down is applied
// when it returns.
func TestRemoteConfigSurvivesRestart(t *testing.T) {
	f, base, token := adminFleet(t)
	dir := dataDir(t)
	mq := f.Addrs().MQTT
	site := parseEdge(t, dir, mq, "")
	e := serveEdge(t, site)
	pushConfig(t, base, token, edgeYAML(dir, mq, testPassword, "", "ipcheck: {devices: [{id: atm1, kind: atm, check: tcp, address: \"127.0.0.1:1\", interval: 1h}]}\n"))
	waitFor(t, 60*time.Second, "version 1 applied", func() bool { return fleetConfig(t, base, token).Status.Applied == 1 })
	waitFor(t, 30*time.Second, "version 1 confirmed", func() bool { rs := e.running(t, 2).remoteState(); return !rs.Trial && rs.Good == 1 })
	e.stop()

	for _, damage := range []bool{false, true} {
		if damage {
			if err := os.WriteFile(filepath.Join(dir, RemoteConfigFile), []byte("office: {id: \"99999\"}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		e = serveEdge(t, site)
		d := e.running(t, 1)
		if d.RemoteVersion() != 1 || d.Config().IPCheck == nil || len(d.Config().IPCheck.Devices) != 1 {
			t.Fatalf("damaged=%v: after restart running version %d, ipcheck %+v", damage, d.RemoteVersion(), d.Config().IPCheck)
		}
		waitFor(t, 30*time.Second, "the fleet to see the office with version 1", func() bool {
			o, _ := f.Office(testOffice)
			s := fleetConfig(t, base, token).Status
			return o.Online && o.ConfigVersion == 1 && s.Desired == 1 && s.Applied == 1
		})
		if e.startCount() != 1 {
			t.Fatalf("damaged=%v: the redelivered push restarted the daemon", damage)
		}
		e.stop()
	}

	// Pushed while the office is down: applied when it returns.
	waitFor(t, 30*time.Second, "office offline", func() bool { o, _ := f.Office(testOffice); return !o.Online })
	pushConfig(t, base, token, strings.Replace(edgeYAML(dir, mq, testPassword, "", ""), "interval: 1h", "interval: 3h", 1))
	e = serveEdge(t, site)
	waitFor(t, 60*time.Second, "version 2 applied after the return", func() bool { return fleetConfig(t, base, token).Status.Applied == 2 })
	if d := e.running(t, 2); d.RemoteVersion() != 2 || d.Config().Telemetry.Interval != 3*time.Hour || d.Config().IPCheck != nil {
		t.Fatalf("after the return: version %d, telemetry %s", d.RemoteVersion(), d.Config().Telemetry.Interval)
	}
}

// TestRemoteConfigRulesOnlyAppliedHot: a push that changes only the rules
// is in force at once, without a restart, and is the base later rule
// parameters apply over (not the file the daemon started with).
func TestRemoteConfigRulesOnlyAppliedHot(t *testing.T) {
	f, base, token := adminFleet(t)
	dir := dataDir(t)
	mq := f.Addrs().MQTT
	e := serveEdge(t, parseEdge(t, dir, mq, "rules: {contracted_kw: 6, cycle: 100ms}\n"))
	d := e.running(t, 1)
	waitFor(t, 30*time.Second, "a cycle at 6 kW", func() bool { return math.Abs(d.Rules().Allocation().AvailableW-6400) < 1 })
	pushConfig(t, base, token, edgeYAML(dir, mq, testPassword, "", "rules: {contracted_kw: 8, cycle: 100ms}\nlog: {level: debug}\naggregate: [{measurement: pv, every: 10s}]\n"))
	waitFor(t, 30*time.Second, "version 1 applied", func() bool { return fleetConfig(t, base, token).Status.Applied == 1 })
	if s := fleetConfig(t, base, token).Status; s.Outcome != wire.ConfigApplied || len(s.RestartNeeded) != 0 {
		t.Fatalf("rules-only push: %+v", s)
	}
	waitFor(t, 30*time.Second, "a cycle at 8 kW", func() bool { return math.Abs(d.Rules().Allocation().AvailableW-8600) < 1 })
	if rs := d.remoteState(); rs.Running != 1 || rs.Good != 1 || rs.Trial || e.startCount() != 1 || e.level.Level() != slog.LevelDebug {
		t.Fatalf("after a hot push: %+v, %d starts, log level %s", rs, e.startCount(), e.level.Level())
	}
	pv := sample.Sample{Measurement: "pv", Tags: map[string]string{sample.TagDevice: "inv1"}, Fields: map[string]any{"power_w": 1.0}, Time: time.Now()}
	if raw := d.sink.agg.Add([]sample.Sample{pv}); len(raw) != 0 {
		t.Fatal("the pushed aggregate section is not in force without a restart")
	}
	v := 0.0
	if err := d.setRuleParam("tolerance_pct", &v); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "8 kW without tolerance", func() bool { return math.Abs(d.Rules().Allocation().AvailableW-7800) < 1 })
}

// TestRemoteConfigThatCannotStartIsRolledBack: a pushed config whose local
// API port is taken validates, but the daemon cannot start with it: the
// edge starts again with the config it had and reports why.
func TestRemoteConfigThatCannotStartIsRolledBack(t *testing.T) {
	f, base, token := adminFleet(t)
	dir := dataDir(t)
	mq := f.Addrs().MQTT
	e := serveEdge(t, parseEdge(t, dir, mq, ""))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	bad := strings.Replace(edgeYAML(dir, mq, testPassword, "", ""), `http: {listen: "127.0.0.1:0"}`, fmt.Sprintf("http: {listen: %q}", taken.Addr().String()), 1)
	pushConfig(t, base, token, bad)
	waitFor(t, 60*time.Second, "version 1 rolled back and reported", func() bool {
		return fleetConfig(t, base, token).Status.Outcome == wire.ConfigRolledBack
	})
	s := fleetConfig(t, base, token).Status
	if s.Applied != 0 || !strings.Contains(s.Reason, "could not start") || !strings.Contains(s.Reason, "address already in use") ||
		!strings.Contains(s.Reason, "local config file") {
		t.Fatalf("fleet after the rollback: %+v", s)
	}
	d := e.running(t, 2)
	if d.RemoteVersion() != 0 || d.Config().HTTP.Listen != "127.0.0.1:0" {
		t.Fatalf("running version %d with http %q", d.RemoteVersion(), d.Config().HTTP.Listen)
	}
	if _, err := os.Stat(filepath.Join(dir, RemoteConfigFile)); !os.IsNotExist(err) {
		t.Fatalf("remote-config.yaml still there after rolling back to the local file: %v", err)
	}
}

// TestRemoteConfigTrialExpiredWhileDown: a daemon that stopped while a
// config was on trial, and starts after its grace time, starts with the
// last good config and keeps the rollback as the ack for the fleet.
func TestRemoteConfigTrialExpiredWhileDown(t *testing.T) {
	dir := dataDir(t)
	site := parseEdge(t, dir, "127.0.0.1:1", "")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	good := edgeYAML(dir, "127.0.0.1:1", testPassword, "", "telemetry: {interval: 7m}\n")
	good = strings.Replace(good, "telemetry: {interval: 1h}\n", "", 1)
	for f, text := range map[string]string{GoodConfigFile: good, RemoteConfigFile: edgeYAML(dir, "127.0.0.1:2", "other", "", "")} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := openState(site.StatePath(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	trial := RemoteConfigState{Running: 2, Trial: true, Deadline: time.Now().Add(-time.Minute), Good: 1}
	if err := writeRemote(db, trial, &wire.ConfigAck{Version: 2, Status: wire.ConfigApplied, Running: 2}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	d, err := New(site, quietLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.closeDrivers(); d.closeStores() }()
	if d.RemoteVersion() != 1 || d.Config().Telemetry.Interval != 7*time.Minute {
		t.Fatalf("started with version %d, telemetry %s", d.RemoteVersion(), d.Config().Telemetry.Interval)
	}
	_, ack, err := readRemote(d.state)
	if err != nil || ack.Version != 2 || ack.Status != wire.ConfigRolledBack || ack.Running != 1 || !strings.Contains(ack.Reason, "restarted meanwhile") {
		t.Fatalf("stored ack %+v, %v", ack, err)
	}
	entries, _ := d.auditEntries()
	if len(entries) != 1 || entries[0].Action != "config_rollback" {
		t.Fatalf("audit trail %+v", entries)
	}
}
