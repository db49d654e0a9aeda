package modbus_test

import (
	"context"
	"testing"
)

func TestInverterFaultBecomesEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	_, rec := startService(t, ctx, config(deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))}))
	waitFor(t, "mppt", func() bool { s := rec.last("pv", "inv1"); return s != nil && s.Fields["state"] == "mppt" })
	if err := sim.SetInverterFault("inv1", 1<<0|1<<7); err != nil { // GROUND_FAULT, OVER_TEMP
		t.Fatal(err)
	}
	waitFor(t, "fault events", func() bool {
		return len(rec.events("inv1", "inverter_fault")) == 1 && len(rec.events("inv1", "inverter_event")) == 2
	})
	names := map[string]bool{}
	for _, e := range rec.events("inv1", "inverter_event") {
		names[e.Fields["event"].(string)] = e.Fields["active"].(bool)
	}
	if !names["GROUND_FAULT"] || !names["OVER_TEMP"] {
		t.Errorf("raised events %v", names)
	}
	if f := rec.events("inv1", "inverter_fault")[0].Fields; f["severity"] != "critical" {
		t.Errorf("fault event %v", f)
	}
	if s := rec.last("pv", "inv1"); s.Fields["state"] != "fault" || s.Fields["event_bits"] != int64(0x81) {
		t.Errorf("pv during fault: %v", s.Fields)
	}
	if err := sim.SetInverterFault("inv1", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cleared", func() bool {
		return len(rec.events("inv1", "inverter_fault_cleared")) == 1 && len(rec.events("inv1", "inverter_event")) == 4
	})
}

func TestEnergyAccumulatorWrap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	_, rec := startService(t, ctx, config(deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))}))
	energy := func() float64 {
		s := rec.last("pv", "inv1")
		if s == nil {
			return -1
		}
		v, _ := s.Fields["energy_wh"].(float64)
		return v
	}
	if err := sim.PokePoint("inv1", 103, "WH", -1, 0xFFFF, 0xFFF0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "counter near the top", func() bool { return energy() == 0xFFFFFFF0 })
	if err := sim.PokePoint("inv1", 103, "WH", -1, 0x0000, 0x0010); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "counter continues past the wrap", func() bool { return energy() == 1<<32+0x10 })
}
