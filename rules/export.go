package rules

import (
	"fmt"
	"math"
	"sort"

	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/rules/image"
)

// exportMarginW keeps the export a little under the limit; releaseBandW is
// how far under it must fall before curtailment is loosened, so the limit
// does not chase the meter's noise.
const (
	exportMarginW = 100
	releaseBandW  = 300
)

// ExportLimit curtails the inverters just enough to keep export under the
// connection's limit, and releases as the office's load rises. It runs
// after the chargers: PV goes to the cars before it is curtailed.
type ExportLimit struct {
	curtailed bool
	limitW    float64 // total production allowed while curtailed
}

// Run decides p.Inverters.
func (x *ExportLimit) Run(cfg *Config, p *Plan, snap *image.Snapshot) {
	if cfg.ExportLimitW == nil || !p.MeterOK {
		return // no limit, or no meter to judge by: keep what is in force
	}
	invs := cfg.Inverters
	if len(invs) == 0 {
		for id := range snap.Values["pv"] {
			if _, _, ok := snap.Float("pv", id, "ac_power_w"); ok {
				invs = append(invs, id)
			}
		}
		sort.Strings(invs)
	}
	if len(invs) == 0 {
		return
	}
	limit := *cfg.ExportLimitW
	// Export after this cycle's charger decisions: the chargers will draw
	// what they were just given.
	var chargeW float64
	for _, c := range p.Conns {
		chargeW += c.SetA * cfg.VoltageV * float64(c.Phases)
	}
	exportW := -(p.BaseW + chargeW)
	switch {
	case exportW > limit:
		if !x.curtailed {
			x.curtailed, x.limitW = true, p.PVW
			p.event("curtailment_started", "", sample.SeverityInfo,
				fmt.Sprintf("export %.0f W over the %.0f W limit: curtailing PV", exportW, limit),
				map[string]any{"export_w": exportW, "export_limit_w": limit})
		}
		x.limitW = math.Max(0, math.Min(x.limitW, p.PVW)-(exportW-limit)-exportMarginW)
	case x.curtailed && exportW < limit-releaseBandW:
		x.limitW += limit - exportW - exportMarginW
		rated := ratedW(snap, invs)
		if rated <= 0 {
			rated = cfg.PVPeakW
		}
		if rated > 0 && x.limitW >= rated {
			x.curtailed = false
			p.event("curtailment_ended", "", sample.SeverityInfo, "load absorbs the PV again: curtailment released",
				map[string]any{"export_limit_w": limit})
		}
	}
	for _, id := range invs {
		if !x.curtailed {
			p.Inverters = append(p.Inverters, InverterSet{ID: id, LimitW: -1, Reason: "released"})
			continue
		}
		p.Inverters = append(p.Inverters, InverterSet{ID: id, LimitW: math.Round(x.limitW * share(snap, invs, id)), Reason: "export_limit"})
	}
}

// share splits the allowed production by rated power (equal when unknown).
func share(snap *image.Snapshot, invs []string, id string) float64 {
	total := ratedW(snap, invs)
	if total <= 0 {
		return 1 / float64(len(invs))
	}
	r, _, _ := snap.Float("pv", id, "rated_power_w")
	return r / total
}

func ratedW(snap *image.Snapshot, invs []string) float64 {
	var t float64
	for _, id := range invs {
		r, _, ok := snap.Float("pv", id, "rated_power_w")
		if !ok {
			return 0
		}
		t += r
	}
	return t
}
