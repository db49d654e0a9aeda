package modbus_test

import (
	"context"
	"math"
	"testing"

	"github.com/polis-edge/polis/protocols/health"
)

// TestSentinelsAndScaleFactors pokes raw registers into the simulated
// inverter and checks what reaches the samples: "not implemented" makes a
// field absent (never zero) and scale factors are applied both ways.
func TestSentinelsAndScaleFactors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)
	svc, rec := startService(t, ctx, config(
		deviceCfg{id: "inv1", kind: "inverter", url: tcp(sim.Addr("inv1"))},
		deviceCfg{id: "sdm", kind: "meter", template: "sdm630", url: tcp(sim.Addr("sdm630"))},
	))
	waitFor(t, "first pv sample", func() bool { return rec.last("pv", "inv1") != nil })

	type poke struct {
		point string
		words []uint16
	}
	cases := []struct {
		name   string
		pokes  []poke
		field  string
		absent bool
		want   float64
	}{
		{"int16 0x8000", []poke{{"TmpCab", []uint16{0x8000}}}, "temperature_c", true, 0},
		{"uint16 0xFFFF", []poke{{"PhVphA", []uint16{0xFFFF}}}, "voltage_l1_v", true, 0},
		{"enum16 0xFFFF", []poke{{"St", []uint16{0xFFFF}}}, "state", true, 0},
		{"bitfield32 0xFFFFFFFF", []poke{{"Evt1", []uint16{0xFFFF, 0xFFFF}}}, "event_bits", true, 0},
		{"acc32 0 (not accumulated)", []poke{{"WH", []uint16{0, 0}}}, "energy_wh", true, 0},
		{"scale factor 0x8000", []poke{{"Hz_SF", []uint16{0x8000}}}, "frequency_hz", true, 0},
		{"negative scale factor", []poke{{"W_SF", []uint16{0xFFFF}}, {"W", []uint16{12345}}}, "ac_power_w", false, 1234.5},
		{"positive scale factor", []poke{{"W_SF", []uint16{2}}, {"W", []uint16{150}}}, "ac_power_w", false, 15000},
		{"negative value int16", []poke{{"W_SF", []uint16{0}}, {"W", []uint16{0xFF9C}}}, "ac_power_w", false, -100},
		{"scale factor -2 on current", []poke{{"A_SF", []uint16{0xFFFE}}, {"AphA", []uint16{1234}}}, "current_l1_a", false, 12.34},
		{"acc32 large value", []poke{{"WH_SF", []uint16{0}}, {"WH", []uint16{0x1234, 0x5678}}}, "energy_wh", false, 0x12345678},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := sim.Unpoke("inv1"); err != nil {
				t.Fatal(err)
			}
			for _, p := range c.pokes {
				if err := sim.PokePoint("inv1", 103, p.point, -1, p.words...); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, c.name, func() bool {
				s := rec.last("pv", "inv1")
				v, ok := s.Fields[c.field]
				if c.absent {
					return !ok && s.Fields["ac_power_w"] != nil
				}
				x, _ := v.(float64)
				return ok && math.Abs(x-c.want) < 1e-6*math.Max(1, math.Abs(c.want))
			})
			if h := deviceHealth(svc, "inv1"); h.State != health.OK {
				t.Errorf("an absent point must not make the device %s (%s)", h.State, h.LastError)
			}
		})
	}
	t.Run("float32 NaN in a template meter", func(t *testing.T) {
		if err := sim.Poke("sdm630", 0x34, 0x7FC0, 0x0000); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "power_w absent", func() bool {
			s := rec.last("grid", "sdm")
			_, p := s.Fields["power_w"]
			_, imp := s.Fields["import_power_w"]
			return !p && !imp && s.Fields["voltage_l1_v"] != nil
		})
	})
}
