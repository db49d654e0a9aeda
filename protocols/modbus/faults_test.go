package modbus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus/modbussim"
)

// TestFaultInjection switches each simulator fault on for the inverter while
// a meter on another bus keeps being polled: the inverter gets the right
// health state, a clear error and no samples; the meter never notices.
func TestFaultInjection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	svc, rec := startService(t, ctx, config(
		deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))},
		deviceCfg{id: "meter1", kind: "meter", url: tcp(sim.Addr("meter1"))},
	))
	waitFor(t, "inverter ok", func() bool { return deviceHealth(svc, "inv1").State == health.OK })

	cases := []struct {
		name   string
		faults modbussim.Faults
		state  health.State
		errHas string
	}{
		{"exception", modbussim.Faults{Exception: 1}, health.Stale, "server device failure"},
		{"timeout", modbussim.Faults{Timeout: 1}, health.Unreachable, "timed out"},
		{"dropped connection", modbussim.Faults{Drop: 1}, health.Unreachable, "EOF"},
		{"garbled frame", modbussim.Faults{Garble: 1}, health.Stale, "garbled"},
		{"absurd values", modbussim.Faults{Nonsense: 1}, health.Stale, "implausible AC power"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			okEvents := len(rec.events("inv1", "device_ok"))
			if err := sim.SetFaults("inv1", c.faults); err != nil {
				t.Fatal(err)
			}
			waitFor(t, string(c.state), func() bool { return deviceHealth(svc, "inv1").State == c.state })
			h := deviceHealth(svc, "inv1")
			if !strings.Contains(h.LastError, c.errHas) {
				t.Errorf("last error %q, want it to mention %q", h.LastError, c.errHas)
			}
			if len(rec.events("inv1", "device_"+string(c.state))) == 0 {
				t.Errorf("no device_%s event", c.state)
			}
			pvBefore, meterBefore := rec.count("pv", "inv1"), rec.count("grid", "meter1")
			waitFor(t, "meter polled meanwhile", func() bool { return rec.count("grid", "meter1") >= meterBefore+5 })
			if n := rec.count("pv", "inv1"); n != pvBefore {
				t.Errorf("%d pv samples stored while the inverter was %s", n-pvBefore, c.state)
			}
			if deviceHealth(svc, "meter1").State != health.OK {
				t.Errorf("meter on another bus affected: %+v", deviceHealth(svc, "meter1"))
			}
			if err := sim.SetFaults("inv1", modbussim.Faults{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "recovery", func() bool {
				return deviceHealth(svc, "inv1").State == health.OK && len(rec.events("inv1", "device_ok")) > okEvents
			})
		})
	}
	if n := deviceHealth(svc, "inv1").Counters["discoveries"]; n < 2 {
		t.Errorf("absurd values should drop the cached map and rediscover; discoveries=%d", n)
	}
}

func TestBadSunSpecInput(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	svc, rec := startService(t, ctx, config(
		deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))},
		// A SunSpec device that is really an EM24: no "SunS" anywhere.
		deviceCfg{id: "not-sunspec", kind: "meter", url: tcp(sim.Addr("em24"))},
		// Nothing listens here.
		deviceCfg{id: "dead", kind: "meter", url: "tcp://127.0.0.1:1"},
		deviceCfg{id: "big", kind: "inverter", url: tcp(sim.Addr("inv1")), maxPower: 1000},
	))
	waitFor(t, "verdicts", func() bool {
		return deviceHealth(svc, "inv1").State == health.OK &&
			deviceHealth(svc, "not-sunspec").State == health.Misconfigured &&
			deviceHealth(svc, "dead").State == health.Unreachable &&
			// A device not polled yet also reads stale: wait for a verdict.
			deviceHealth(svc, "big").State == health.Stale && deviceHealth(svc, "big").LastError != ""
	})
	if e := deviceHealth(svc, "not-sunspec").LastError; !strings.Contains(e, "SunS") {
		t.Errorf("misconfigured error %q does not say what is missing", e)
	}
	if e := deviceHealth(svc, "big").LastError; !strings.Contains(e, "bound 1000 W") {
		t.Errorf("absurd-value error %q", e)
	}
	if rec.count("pv", "big") != 0 || rec.count("grid", "not-sunspec") != 0 {
		t.Error("samples stored for devices whose data was refused")
	}

	t.Run("model length mismatch", func(t *testing.T) {
		addr, err := sim.PointAddr("inv1", 103, "L", -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Poke("inv1", addr, 49); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "stale on bad length", func() bool {
			h := deviceHealth(svc, "inv1")
			return h.State == health.Stale && strings.Contains(h.LastError, "length")
		})
		if err := sim.Unpoke("inv1"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "rediscovered", func() bool { return deviceHealth(svc, "inv1").State == health.OK })
	})
	t.Run("marker gone after rediscovery", func(t *testing.T) {
		if err := sim.Poke("inv1", 40000, 0, 0); err != nil {
			t.Fatal(err)
		}
		addr, _ := sim.PointAddr("inv1", 103, "ID", -1)
		if err := sim.Poke("inv1", addr, 1); err != nil { // chain changed: forces rediscovery
			t.Fatal(err)
		}
		waitFor(t, "misconfigured", func() bool { return deviceHealth(svc, "inv1").State == health.Misconfigured })
		_ = sim.Unpoke("inv1")
		waitFor(t, "back", func() bool { return deviceHealth(svc, "inv1").State == health.OK })
	})
	time.Sleep(10 * time.Millisecond)
}
