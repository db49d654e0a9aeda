package edge

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/edge/config"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
	"github.com/polis-edge/polis/protocols/testserver"
)

func doctorConfig(t *testing.T, fleetMQTT, password, modbusAddr string) config.Config {
	t.Helper()
	httpPort, _ := testserver.FreePort()
	ocppPort, _ := testserver.FreePort()
	cfg, err := config.Parse(fmt.Appendf(nil, `office: {id: %q}
data_dir: %s
uplink: {url: 'tcp://%s', password: %q}
http: {listen: '127.0.0.1:%d'}
modbus:
  buses: [{id: roof, url: 'tcp://%s', timeout: 1s}]
  devices: [{id: inv1, bus: roof, unit: 1, kind: inverter, poll: 200ms, sunspec: true, max_power_w: 30000}]
ocpp: {listen: '127.0.0.1:%d', security_profile: 1}
`, testOffice, dataDir(t), fleetMQTT, password, httpPort, modbusAddr, ocppPort))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func verdicts(checks []Check) map[string]Check {
	m := map[string]Check{}
	for _, c := range checks {
		m[c.Name] = c
	}
	return m
}

func synced() (bool, error) { return true, nil }

// TestDoctorReadyOffice: with a real fleet accepting the office, a Modbus
// inverter answering and free ports, every check passes before the daemon
// starts; once it runs, doctor judges devices by what the daemon sees.
func TestDoctorReadyOffice(t *testing.T) {
	in := testserver.Influx(t)
	fl := startFleet(t, in, "")
	sim, err := modbussim.New(modbussim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := doctorConfig(t, fl.Addrs().MQTT, testPassword, sim.Addr("inv1"))
	opts := DoctorOptions{Synced: synced}

	checks := Doctor(ctx, cfg, opts)
	if !Ready(checks) {
		t.Fatalf("office not ready before start: %+v", checks)
	}
	v := verdicts(checks)
	for _, name := range []string{"config", "clock", "disk", "fleet", "port http.listen", "port ocpp.listen", "device modbus/inv1"} {
		if v[name].Verdict != CheckOK {
			t.Errorf("%s: %+v", name, v[name])
		}
	}

	d, _ := startEdge(t, cfg)
	waitFor(t, 30*time.Second, "the daemon to see the inverter", func() bool {
		for _, dev := range d.devices() {
			if dev.ID == "inv1" && dev.State == "ok" {
				return true
			}
		}
		return false
	})
	checks = Doctor(ctx, cfg, opts)
	v = verdicts(checks)
	if !Ready(checks) || !strings.Contains(v["ports"].Detail, "running polis-edge") || !strings.Contains(v["device modbus/inv1"].Detail, "running daemon") {
		t.Fatalf("doctor beside the running daemon: %+v", checks)
	}
}

// TestDoctorNotReady: each problem an installer meets gives its own FAIL
// with the reason, and the office is not ready.
func TestDoctorNotReady(t *testing.T) {
	in := testserver.Influx(t)
	fl := startFleet(t, in, "")
	dead, _ := testserver.FreePort() // nothing listens: the inverter is unreachable
	cfg := doctorConfig(t, fl.Addrs().MQTT, "wrong-password", fmt.Sprintf("127.0.0.1:%d", dead))
	cfg.Buffer.MaxBytes = 1 << 60 // no disk holds this
	taken, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	checks := Doctor(context.Background(), cfg, DoctorOptions{
		Now:     func() time.Time { return time.Unix(42, 0) }, // booted without RTC
		Synced:  func() (bool, error) { return false, nil },
		Timeout: 2 * time.Second,
	})
	if Ready(checks) {
		t.Fatal("doctor calls a broken office ready")
	}
	v := verdicts(checks)
	for name, want := range map[string]string{
		"clock":              "1970",
		"disk":               "free",
		"fleet":              "refused",
		"port http.listen":   "cannot be bound",
		"device modbus/inv1": "tcp://127.0.0.1",
	} {
		if c := v[name]; c.Verdict != CheckFail || !strings.Contains(c.Detail, want) {
			t.Errorf("%s: want FAIL mentioning %q, got %+v", name, want, c)
		}
	}
	if v["config"].Verdict != CheckOK {
		t.Errorf("config: %+v", v["config"])
	}
}

func TestClockUnsynchronised(t *testing.T) {
	c := checkClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), func() (bool, error) { return false, nil })
	if c.Verdict != CheckFail || !strings.Contains(c.Detail, "not synchronised") {
		t.Fatalf("%+v", c)
	}
}
