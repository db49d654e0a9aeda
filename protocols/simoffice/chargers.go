package simoffice

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"

	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
)

// demoChargers: a public charger at the door and one for the office's vans.
var demoChargers = []struct{ id, tag string }{
	{"CP-PUBLIC", "DEADBEEF"},
	{"CP-FLEET", "04A1B2C3"},
}

const chargerPassword = "demo-charger-pass-16"

func ocppYAML(listen string) string {
	y := `ocpp:
  listen: ` + listen + `
  security_profile: 1
  meter_sample_interval: 10s
  chargers:
`
	for _, c := range demoChargers {
		y += fmt.Sprintf("    - {id: %s, password: %q, connectors: 1}\n", c.id, chargerPassword)
	}
	return y + `  auth:
    unknown_tags: accept_public
    tags:
      - {id: "04A1B2C3", group: fleet, departure: "07:30"}
      - {id: "DEADBEEF", group: public}
`
}

// RunChargers connects the office's charge points to the edge's OCPP endpoint
// (ws://host:port/ocpp) and lets cars come and go; the meter simulator sees
// their power in the grid balance.
func (o *Office) RunChargers(ctx context.Context, url string, log *slog.Logger) error {
	var cps []*ocppsim.ChargePoint
	for _, c := range demoChargers {
		cp, err := ocppsim.New(ocppsim.Config{
			URL: url, ID: c.id, Password: chargerPassword,
			MeterInterval: 10 * time.Second,
		}, log.With("sim", "ocpp", "office", o.cfg.ID, "charger", c.id))
		if err != nil {
			return err
		}
		cps = append(cps, cp)
		go cp.Run(ctx)
		go drive(ctx, cp, c.tag, rand.New(rand.NewPCG(o.seed, uint64(len(cps)))))
	}
	o.modbus.SetChargerPower(ocppsim.TotalPower(cps...))
	<-ctx.Done()
	return nil
}

// drive plugs a car in soon after start, unplugs it after a while, and
// repeats, so the demo shows sessions starting and ending within minutes.
func drive(ctx context.Context, cp *ocppsim.ChargePoint, tag string, rng *rand.Rand) {
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for wait(time.Duration(5+rng.IntN(25)) * time.Second) {
		if !cp.Connected() {
			continue
		}
		car := ocppsim.Car{IdTag: tag, BatteryWh: 40000 + float64(rng.IntN(40000)), SoCPct: 20 + float64(rng.IntN(40)),
			MaxCurrentA: []float64{16, 32}[rng.IntN(2)], Phases: []int{1, 3}[rng.IntN(2)]}
		if err := cp.Plug(1, car); err != nil {
			continue
		}
		if !wait(time.Duration(60+rng.IntN(180)) * time.Second) {
			return
		}
		cp.Unplug(1, core.ReasonEVDisconnected)
	}
}
