package modbus_test

import (
	"context"
	"math"
	"testing"

	"github.com/polis-edge/polis/protocols/health"
)

func f64(t *testing.T, fields map[string]any, k string) float64 {
	t.Helper()
	v, ok := fields[k].(float64)
	if !ok {
		t.Fatalf("field %s missing or not float: %v (fields %v)", k, fields[k], fields)
	}
	return v
}

func TestPollsSimulatedOfficeOverTCP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	svc, rec := startService(t, ctx, config(
		deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))},
		deviceCfg{id: "meter1", kind: "meter", url: tcp(sim.Addr("meter1"))},
		deviceCfg{id: "sdm", kind: "meter", template: "sdm630", url: tcp(sim.Addr("sdm630"))},
		deviceCfg{id: "em24", kind: "meter", template: "em24", url: tcp(sim.Addr("em24"))},
	))
	waitFor(t, "all devices ok", func() bool {
		for _, d := range svc.Devices() {
			if d.State != health.OK {
				return false
			}
		}
		// A device turns OK on its first good read, a moment before its
		// sample reaches the recorder: wait for every one's sample.
		for _, dev := range []string{"meter1", "sdm", "em24"} {
			if rec.last("grid", dev) == nil {
				return false
			}
		}
		return rec.last("pv", "inv1") != nil && rec.last("pv", "inv1", "string", "2") != nil
	})
	st := sim.State()
	pv := rec.last("pv", "inv1").Fields
	if w := f64(t, pv, "ac_power_w"); w < 5000 || w > 20000 {
		t.Errorf("June noon AC power %v W, want a sunny 5-20 kW", w)
	}
	if math.Abs(f64(t, pv, "ac_power_w")-st.PVW) > 0.2*st.PVW {
		t.Errorf("decoded %v W, simulator produces %v W", pv["ac_power_w"], st.PVW)
	}
	for _, k := range []string{"voltage_l1_v", "voltage_l3_v", "current_l2_a", "frequency_hz", "energy_wh", "dc_power_w", "temperature_c", "rated_power_w"} {
		f64(t, pv, k)
	}
	if pv["state"] != "mppt" || pv["limit_active"] != false {
		t.Errorf("state %v limit_active %v, want mppt and no limit", pv["state"], pv["limit_active"])
	}
	if v := f64(t, pv, "voltage_l1_v"); v < 220 || v > 240 {
		t.Errorf("voltage %v: scale factor V_SF=-1 not applied", v)
	}
	str := rec.last("pv", "inv1", "string", "1").Fields
	if f64(t, str, "dc_voltage_v") < 500 || f64(t, str, "dc_power_w") <= 0 {
		t.Errorf("MPPT string 1: %v", str)
	}
	for _, dev := range []string{"meter1", "sdm", "em24"} {
		g := rec.last("grid", dev).Fields
		p := f64(t, g, "power_w")
		if math.Abs(p-st.GridW) > 0.35*math.Abs(st.GridW)+500 {
			t.Errorf("%s: grid power %v W, simulator %v W", dev, p, st.GridW)
		}
		imp, exp := f64(t, g, "import_power_w"), f64(t, g, "export_power_w")
		if imp-exp != p || imp < 0 || exp < 0 {
			t.Errorf("%s: import %v export %v do not split power %v", dev, imp, exp, p)
		}
		for _, k := range []string{"voltage_l1_v", "current_l1_a", "power_l1_w", "import_power_l1_w", "frequency_hz", "import_energy_wh", "export_energy_wh"} {
			f64(t, g, k)
		}
		if hz := f64(t, g, "frequency_hz"); hz < 49.9 || hz > 50.1 {
			t.Errorf("%s: frequency %v", dev, hz)
		}
		if e := f64(t, g, "import_energy_wh"); e < 1e6 {
			t.Errorf("%s: import energy %v Wh, simulator starts above 1 MWh", dev, e)
		}
	}
	if len(rec.events("inv1", "device_ok")) != 1 {
		t.Errorf("want one device_ok event for inv1, got %d", len(rec.events("inv1", "device_ok")))
	}
}

// TestSmallMaxRegisters reads the inverter in 7-register requests: the values
// must come out the same as with one big read.
func TestSmallMaxRegisters(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	cfg := config(
		deviceCfg{id: "small", kind: "inverter", url: tcp(sim.Addr("inv1"))},
		deviceCfg{id: "em24", kind: "meter", template: "em24", url: tcp(sim.Addr("em24"))},
	)
	cfg.Devices[0].MaxRegisters, cfg.Devices[1].MaxRegisters = 7, 3
	svc, rec := startService(t, ctx, cfg)
	waitFor(t, "decoded in small chunks", func() bool {
		return deviceHealth(svc, "small").State == health.OK && rec.last("pv", "small", "string", "2") != nil &&
			rec.last("grid", "em24") != nil
	})
	pv := rec.last("pv", "small").Fields
	if v := f64(t, pv, "voltage_l2_v"); v < 220 || v > 240 {
		t.Errorf("voltage %v", v)
	}
	if pv["state"] != "mppt" || f64(t, pv, "rated_power_w") != 20000 {
		t.Errorf("fields %v", pv)
	}
	if e := f64(t, rec.last("grid", "em24").Fields, "export_energy_wh"); e < 100000 {
		t.Errorf("em24 export energy %v", e)
	}
}
