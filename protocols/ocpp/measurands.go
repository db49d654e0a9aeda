package ocpp

import (
	"math"
	"strings"
)

// fieldFor maps an OCPP measurand (same names in 1.6 and 2.0.1) to our field
// name, or "" for measurands we do not keep. Per-phase values get the phase
// in the name; line-to-neutral and plain phase names are the same thing here.
func fieldFor(measurand, phase, location string) string {
	if measurand == "" {
		measurand = "Energy.Active.Import.Register" // the OCPP default
	}
	ph := phaseSuffix(phase)
	if location == "EV" && measurand != "SoC" {
		return "" // EV-side readings would double the outlet's
	}
	switch measurand {
	case "Energy.Active.Import.Register":
		if ph != "" {
			return "" // per-phase registers add nothing for the rules
		}
		return "energy_wh"
	case "Power.Active.Import":
		if ph != "" {
			return "power_" + ph + "_w"
		}
		return "power_w"
	case "Current.Import":
		if ph != "" {
			return "current_" + ph + "_a"
		}
		return "current_a"
	case "Voltage":
		if ph != "" {
			return "voltage_" + ph + "_v"
		}
		return "voltage_v"
	case "Current.Offered":
		return "offered_a"
	case "Power.Offered":
		return "offered_w"
	case "SoC":
		return "soc_pct"
	}
	return ""
}

func phaseSuffix(phase string) string {
	switch phase {
	case "L1", "L1-N":
		return "l1"
	case "L2", "L2-N":
		return "l2"
	case "L3", "L3-N":
		return "l3"
	}
	return ""
}

// toBase converts a value to the field's base unit (Wh, W, A, V, %): chargers
// report energy in Wh or kWh as they please.
func toBase(v float64, unit string, multiplier int) float64 {
	if multiplier != 0 {
		v *= math.Pow10(multiplier)
	}
	if strings.HasPrefix(unit, "k") {
		v *= 1000
	}
	return v
}

// finite keeps a value only if it is a real number: NaN or ±Inf (a "NaN"
// string in 1.6, a multiplier overflow in 2.0.1) would poison live state and
// cannot be stored (JSON, InfluxDB). Each one is counted and dropped; the
// rest of the message is kept.
func (s *Service) finite(id, field string, v float64) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		s.stats.inc(id, "rejected_nonfinite")
		s.log.Warn("ocpp: non-finite meter value dropped", "charger", id, "field", field)
		return 0, false
	}
	return v, true
}
