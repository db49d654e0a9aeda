package modbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/polis-edge/polis/protocols/modbus"
)

func TestProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := startSim(t, ctx, nil)

	t.Run("sunspec table", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := modbus.RunProbe([]string{"modbus", tcp(sim.Addr("inv1")), "--unit", "1"}, &out, &errOut)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		for _, want := range []string{"models [1 103 120 123 160 704]", "Polis Sim", "model 103", "PhVphA", " V\n",
			"MPPT (4)", "model 160 module 2", "WRtg", "20000"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("template json", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := modbus.RunProbe([]string{"modbus", "--template", "em24", "--json", tcp(sim.Addr("em24"))}, &out, &errOut)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var res modbus.ProbeResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		got := map[string]modbus.ProbePoint{}
		for _, p := range res.Points {
			got[p.Name] = p
		}
		v, _ := got["voltage_l2_v"].Value.(float64)
		if v < 220 || v > 240 || got["voltage_l2_v"].Unit != "V" || got["import_energy_wh"].Unit != "Wh" {
			t.Errorf("em24 probe: %+v", got)
		}
	})
	t.Run("unreadable device", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := modbus.RunProbe([]string{"modbus", "tcp://127.0.0.1:1", "--timeout", "200ms"}, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), "127.0.0.1:1") {
			t.Errorf("exit %d, stderr %q", code, errOut.String())
		}
	})
	t.Run("not sunspec", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := modbus.RunProbe([]string{"modbus", tcp(sim.Addr("sdm630"))}, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "--template") {
			t.Errorf("exit %d, stderr %q", code, errOut.String())
		}
	})
	t.Run("usage", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := modbus.RunProbe([]string{"modbus"}, &out, &errOut); code != 2 {
			t.Errorf("exit %d", code)
		}
	})
}
