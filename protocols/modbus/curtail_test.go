package modbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/modbus/modbussim"
)

// TestCurtailmentRoundTrip limits the simulated inverter through the service,
// sees the limit read back and the output ramp down, then lifts it. Run for
// an inverter with model 704 and for a legacy one with 123 only.
func TestCurtailmentRoundTrip(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "model704"
		if legacy {
			name = "model123"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sim := startSim(t, ctx, func(c *modbussim.Config) {
				c.Devices = []modbussim.DeviceConfig{{Name: "inv1", Type: modbussim.TypeInverter, Legacy: legacy}}
			})
			cfg := config(deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))})
			cfg.Devices[0].LimitRevert = 10 * time.Second
			svc, rec := startService(t, ctx, cfg)
			waitFor(t, "full power", func() bool {
				s := rec.last("pv", "inv1")
				return s != nil && s.Fields["ac_power_w"].(float64) > 10000
			})
			if err := svc.SetProductionLimit(ctx, "inv1", 30); err != nil {
				t.Fatal(err)
			}
			var ramp []float64
			waitFor(t, "output at the 30% limit", func() bool {
				s := rec.last("pv", "inv1")
				w := s.Fields["ac_power_w"].(float64)
				if len(ramp) == 0 || ramp[len(ramp)-1] != w {
					ramp = append(ramp, w)
				}
				return s.Fields["limit_active"] == true && s.Fields["limit_pct"] == 30.0 && w <= 6000 && s.Fields["state"] == "throttled"
			})
			between := 0
			for _, w := range ramp {
				if w > 6500 && w < 9500 {
					between++
				}
			}
			if between == 0 {
				t.Errorf("no intermediate values while curtailing, the output jumped: %v", ramp)
			}
			// Past the 10 s revert timeout the limit must still hold: the
			// service refreshes it at half the timeout.
			time.Sleep(11 * time.Second)
			s := rec.last("pv", "inv1")
			if s.Fields["limit_active"] != true || s.Fields["ac_power_w"].(float64) > 6000 {
				t.Fatalf("limit lapsed despite refresh: %v", s.Fields)
			}
			if n := deviceHealth(svc, "inv1").Counters["limit_writes"]; n < 2 {
				t.Errorf("limit written %d times in 11 s with a 10 s revert, want a refresh", n)
			}
			if err := svc.ClearProductionLimit(ctx, "inv1"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "limit lifted and power back", func() bool {
				s := rec.last("pv", "inv1")
				return s.Fields["limit_active"] == false && s.Fields["ac_power_w"].(float64) > 10000
			})
		})
	}
}

func TestCurtailmentErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	svc, _ := startService(t, ctx, config(
		deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))},
		deviceCfg{id: "m", kind: "meter", url: tcp(sim.Addr("meter1"))},
	))
	if err := svc.SetProductionLimit(ctx, "inv1", 120); err == nil {
		t.Error("120% accepted")
	}
	if err := svc.SetProductionLimit(ctx, "m", 50); err == nil {
		t.Error("curtailing a meter accepted")
	}
	if err := svc.SetProductionLimit(ctx, "nope", 50); err == nil {
		t.Error("unknown device accepted")
	}
	if err := svc.SetProductionLimitW(ctx, "inv1", 5000); err != nil {
		t.Fatalf("5 kW on a 20 kW inverter: %v", err)
	}
}
