package edge

import (
	"net/http"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/image"
)

// buildImage creates the process image and taps the sink: every sample a
// driver appends also refreshes the image, so the rules read each driver's
// latest values in-process, without going through the buffer.
func (d *Daemon) buildImage() {
	var ch image.ChargerSource
	if d.ocpp != nil {
		ch = ocppChargers{d.ocpp}
	}
	d.image = image.New(time.Now, ch, daemonHealth{d})
	d.sink.tap = func(ss ...sample.Sample) {
		d.image.Update(ss...)
		if d.rules == nil {
			return
		}
		for _, s := range ss {
			if s.Measurement == "grid" && (d.meterID == "" || s.Tags[sample.TagDevice] == d.meterID) {
				d.rules.MeterRead() // act on a step now, not at the next tick
				return
			}
		}
	}
}

// ocppChargers adapts the OCPP service's connectors to the image.
type ocppChargers struct{ s *ocpp.Service }

func (c ocppChargers) Chargers() []image.Charger {
	snap := c.s.Snapshot()
	out := make([]image.Charger, 0, len(snap))
	for _, cs := range snap {
		ch := image.Charger{
			ChargerID: cs.ChargerID, Connector: cs.Connector, Online: cs.Online, Status: cs.Status,
			PowerW: cs.PowerW, CurrentA: cs.CurrentA, OfferedA: cs.OfferedA, SoCPct: cs.SoCPct, MeterAt: cs.MeterAt,
		}
		if ss := cs.Session; ss != nil && ss.Open {
			ch.Session, ch.TransactionID, ch.IDTag, ch.Group = true, ss.TransactionID, ss.IdTag, ss.Group
			ch.SessionStart, ch.SessionWh, ch.Departure = ss.Start, ss.EnergyWh(), ss.Departure
		}
		out = append(out, ch)
	}
	return out
}

// daemonHealth adapts the drivers' device health to the image.
type daemonHealth struct{ d *Daemon }

func (h daemonHealth) Health() []image.Health {
	devs := h.d.devices()
	out := make([]image.Health, 0, len(devs))
	for _, dev := range devs {
		out = append(out, image.Health{ID: dev.ID, Kind: dev.Kind, State: string(dev.State)})
	}
	return out
}

// handleImage serves the process image read-only, for installers.
func (d *Daemon) handleImage(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, d.image.Snapshot())
}
