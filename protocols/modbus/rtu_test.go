package modbus_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
)

// threeUnits is one inverter and two vendor meters behind one line.
func threeUnits(c *modbussim.Config) {
	c.Devices = []modbussim.DeviceConfig{
		{Name: "inv1", Type: modbussim.TypeInverter, Unit: 1, Gateway: "gw"},
		{Name: "sdm630", Type: modbussim.TypeSDM630, Unit: 2, Gateway: "gw"},
		{Name: "em24", Type: modbussim.TypeEM24, Unit: 3, Gateway: "gw"},
	}
}

func sharedBus(url string) modbus.Config {
	return modbus.Config{
		Buses: []modbus.BusConfig{{ID: "line", URL: url, Baud: 19200, Timeout: 500 * time.Millisecond}},
		Devices: []modbus.DeviceConfig{
			{ID: "inv1", Bus: "line", Unit: 1, Kind: "inverter", SunSpec: true, Poll: 200 * time.Millisecond},
			{ID: "sdm", Bus: "line", Unit: 2, Kind: "meter", Template: "sdm630", Poll: 200 * time.Millisecond},
			{ID: "em24", Bus: "line", Unit: 3, Kind: "meter", Template: "em24", Poll: 200 * time.Millisecond},
		},
	}
}

func checkSharedBus(t *testing.T, svc *modbus.Service, rec *recorder) {
	t.Helper()
	waitFor(t, "three units ok on one line", func() bool {
		for _, id := range []string{"inv1", "sdm", "em24"} {
			if deviceHealth(svc, id).State != health.OK {
				return false
			}
		}
		return rec.count("pv", "inv1") > 3 && rec.count("grid", "sdm") > 3 && rec.count("grid", "em24") > 3
	})
	// Each unit's answer must land on its own device: the unit id is
	// client-wide state in the library, so a race would mix them up.
	if rec.last("pv", "inv1").Fields["ac_power_w"].(float64) < 5000 {
		t.Errorf("inverter data wrong: %v", rec.last("pv", "inv1").Fields)
	}
	for _, id := range []string{"sdm", "em24"} {
		v := rec.last("grid", id).Fields["voltage_l1_v"].(float64)
		if v < 220 || v > 240 {
			t.Errorf("%s voltage %v: answers crossed between units", id, v)
		}
	}
}

// TestRTUOverPseudoTerminal drives real RTU frames (with CRC) through a socat
// pty pair: the service opens one side as its serial line, the simulator's
// RTU responder answers on the other.
func TestRTUOverPseudoTerminal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cmd := exec.Command("socat", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := cmd.Start(); err != nil {
		t.Fatalf("socat (Debian package socat) is needed for the serial test: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, "pty links", func() bool {
		_, e1 := os.Stat(a)
		_, e2 := os.Stat(b)
		return e1 == nil && e2 == nil
	})
	sim := startSim(t, ctx, threeUnits)
	line, err := os.OpenFile(b, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = sim.ServeRTU(ctx, line) }()
	svc, rec := startService(t, ctx, sharedBus("rtu://"+a))
	checkSharedBus(t, svc, rec)
}

func TestRTUOverTCPGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, threeUnits)
	addr, err := sim.ListenRTUOverTCP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc, rec := startService(t, ctx, sharedBus("rtuovertcp://"+addr))
	checkSharedBus(t, svc, rec)
}

func TestSeveralUnitsBehindOneTCPGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, threeUnits)
	svc, rec := startService(t, ctx, sharedBus(tcp(sim.Addr("inv1"))))
	checkSharedBus(t, svc, rec)
}
