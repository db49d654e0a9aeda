package modbus

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus/sunspec"
	"github.com/polis-edge/polis/protocols/sample"
)

// Measurements written by this package (docs/schema-modbus.md).
const (
	MeasurementPV   = "pv"
	MeasurementGrid = "grid"
	TagString       = "string"
)

// phases maps SunSpec phase suffixes to field suffixes.
var phases = []struct{ ss, f string }{{"A", "l1"}, {"B", "l2"}, {"C", "l3"}}

// put copies a decoded point into fields when present, applying mul.
func put(fields map[string]any, name string, v sunspec.Values, point string, mul float64) {
	if x, ok := v.Num[point]; ok {
		fields[name] = x * mul
	}
}

func (s *sunspecDevice) pvSamples(blocks map[int]*sunspec.Block, now time.Time) ([]sample.Sample, error) {
	inv := blocks[s.main.ID]
	if inv == nil {
		return nil, fail(health.Stale, "sunspec: inverter model %d not read", s.main.ID)
	}
	if w, ok := inv.Num["W"]; ok && math.Abs(w) > s.powerBound() {
		return nil, fail(health.Stale, "implausible AC power %.0f W (bound %.0f W): not stored", w, s.powerBound())
	}
	f := map[string]any{}
	put(f, "ac_power_w", inv.Values, "W", 1)
	put(f, "ac_apparent_power_va", inv.Values, "VA", 1)
	put(f, "ac_reactive_power_var", inv.Values, "VAr", 1)
	put(f, "power_factor", inv.Values, "PF", 0.01)
	put(f, "current_a", inv.Values, "A", 1)
	for _, p := range phases {
		put(f, "current_"+p.f+"_a", inv.Values, "Aph"+p.ss, 1)
		put(f, "voltage_"+p.f+"_v", inv.Values, "PhVph"+p.ss, 1)
	}
	put(f, "frequency_hz", inv.Values, "Hz", 1)
	put(f, "dc_current_a", inv.Values, "DCA", 1)
	put(f, "dc_voltage_v", inv.Values, "DCV", 1)
	put(f, "dc_power_w", inv.Values, "DCW", 1)
	put(f, "temperature_c", inv.Values, "TmpCab", 1)
	put(f, "heatsink_temperature_c", inv.Values, "TmpSnk", 1)
	if wh, ok := inv.Num["WH"]; ok {
		f["energy_wh"] = s.accumulate("WH", wh, accSpan(inv, "WH_SF"))
	}
	if st, ok := inv.Num["St"]; ok {
		f["state_code"] = int64(st)
		f["state"] = stateName(st)
	}
	if evt, ok := inv.Num["Evt1"]; ok {
		f["event_bits"] = int64(evt)
	}
	if s.ratedW > 0 {
		f["rated_power_w"] = s.ratedW
	}
	if pct, active, ok := limitFromBlocks(blocks); ok {
		f["limit_pct"], f["limit_active"] = pct, active
	}
	var out []sample.Sample
	if len(f) > 0 {
		out = append(out, sample.Sample{Measurement: MeasurementPV,
			Tags: map[string]string{sample.TagDevice: s.d.cfg.ID}, Fields: f, Time: now})
	}
	out = append(out, s.stringSamples(blocks[160], now)...)
	out = append(out, s.events.update(s.d.cfg.ID, inv, now)...)
	return out, nil
}

// stringSamples turns MPPT modules (model 160) into one row per string.
func (s *sunspecDevice) stringSamples(b *sunspec.Block, now time.Time) []sample.Sample {
	if b == nil {
		return nil
	}
	var out []sample.Sample
	for i, m := range b.Repeats {
		f := map[string]any{}
		put(f, "dc_current_a", m, "DCA", 1)
		put(f, "dc_voltage_v", m, "DCV", 1)
		put(f, "dc_power_w", m, "DCW", 1)
		put(f, "temperature_c", m, "Tmp", 1)
		if wh, ok := m.Num["DCWH"]; ok {
			f["dc_energy_wh"] = s.accumulate("DCWH"+strconv.Itoa(i), wh, accSpan(b, "DCWH_SF"))
		}
		if st, ok := m.Num["DCSt"]; ok {
			f["state"] = stateName(st)
		}
		if len(f) == 0 {
			continue
		}
		str := strconv.Itoa(i + 1)
		if id, ok := m.Num["ID"]; ok {
			str = strconv.Itoa(int(id))
		}
		out = append(out, sample.Sample{Measurement: MeasurementPV,
			Tags:   map[string]string{sample.TagDevice: s.d.cfg.ID, TagString: str},
			Fields: f, Time: now})
	}
	return out
}

func (s *sunspecDevice) gridSamples(b *sunspec.Block, now time.Time) ([]sample.Sample, error) {
	if b == nil {
		return nil, fail(health.Stale, "sunspec: meter model %d not read", s.main.ID)
	}
	if w, ok := b.Num["W"]; ok && math.Abs(w) > s.powerBound() {
		return nil, fail(health.Stale, "implausible grid power %.0f W (bound %.0f W): not stored", w, s.powerBound())
	}
	f := map[string]any{}
	put(f, "power_w", b.Values, "W", 1)
	put(f, "apparent_power_va", b.Values, "VA", 1)
	put(f, "reactive_power_var", b.Values, "VAR", 1)
	put(f, "power_factor", b.Values, "PF", 0.01)
	put(f, "frequency_hz", b.Values, "Hz", 1)
	put(f, "current_a", b.Values, "A", 1)
	for _, p := range phases {
		put(f, "power_"+p.f+"_w", b.Values, "Wph"+p.ss, 1)
		put(f, "voltage_"+p.f+"_v", b.Values, "PhVph"+p.ss, 1)
		put(f, "current_"+p.f+"_a", b.Values, "Aph"+p.ss, 1)
	}
	span := accSpan(b, "TotWh_SF")
	if v, ok := b.Num["TotWhImp"]; ok {
		f["import_energy_wh"] = s.accumulate("TotWhImp", v, span)
	}
	if v, ok := b.Num["TotWhExp"]; ok {
		f["export_energy_wh"] = s.accumulate("TotWhExp", v, span)
	}
	splitImportExport(f)
	if len(f) == 0 {
		return nil, fail(health.Stale, "sunspec: meter reports no implemented points")
	}
	return []sample.Sample{{Measurement: MeasurementGrid,
		Tags: map[string]string{sample.TagDevice: s.d.cfg.ID}, Fields: f, Time: now}}, nil
}

// splitImportExport derives import_/export_ power from signed power fields
// (positive = import), so SunSpec and template meters read the same.
func splitImportExport(f map[string]any) {
	for _, suffix := range []string{"", "_l1", "_l2", "_l3"} {
		w, ok := f["power"+suffix+"_w"].(float64)
		if !ok {
			continue
		}
		f["import_power"+suffix+"_w"] = math.Max(w, 0)
		f["export_power"+suffix+"_w"] = math.Max(-w, 0)
	}
}

var stateNames = map[float64]string{1: "off", 2: "sleeping", 3: "starting", 4: "mppt",
	5: "throttled", 6: "shutting_down", 7: "fault", 8: "standby", 9: "test"}

func stateName(st float64) string {
	if n, ok := stateNames[st]; ok {
		return n
	}
	return "vendor_" + strconv.Itoa(int(st))
}

// eventTracker turns St and Evt1 changes into events.
type eventTracker struct {
	seen    bool
	lastSt  float64
	lastEvt uint32
}

func (t *eventTracker) update(dev string, inv *sunspec.Block, now time.Time) []sample.Sample {
	st, hasSt := inv.Num["St"]
	evtF, hasEvt := inv.Num["Evt1"]
	evt := uint32(evtF)
	var out []sample.Sample
	evtPoint, _ := mustModel(inv.Model).Point("Evt1")
	if hasEvt {
		for bit := uint32(0); bit < 32; bit++ {
			mask := uint32(1) << bit
			was, is := t.lastEvt&mask != 0, evt&mask != 0
			if was == is {
				continue
			}
			name := evtPoint.Symbols[bit]
			if name == "" {
				name = fmt.Sprintf("BIT_%d", bit)
			}
			sev, verb := sample.SeverityWarning, "raised"
			if !is {
				sev, verb = sample.SeverityInfo, "cleared"
			}
			// Several bits may change in one poll: each its own point.
			out = append(out, sample.Event(dev, "inverter_event", sev,
				fmt.Sprintf("inverter %s: %s %s", dev, strings.ToLower(name), verb), now,
				map[string]any{"event": name, "active": is}).Distinct(name+"/"+verb))
		}
		t.lastEvt = evt
	}
	if hasSt && (!t.seen || st != t.lastSt) {
		switch {
		case st == 7:
			out = append(out, sample.Event(dev, "inverter_fault", sample.SeverityCritical,
				fmt.Sprintf("inverter %s reports FAULT (events 0x%08x)", dev, evt), now,
				map[string]any{"state": "fault", "event_bits": int64(evt)}).Distinct("fault"))
		case t.seen && t.lastSt == 7:
			out = append(out, sample.Event(dev, "inverter_fault_cleared", sample.SeverityInfo,
				fmt.Sprintf("inverter %s left FAULT, now %s", dev, stateName(st)), now,
				map[string]any{"state": stateName(st)}).Distinct("fault_cleared"))
		}
		t.lastSt, t.seen = st, true
	}
	return out
}

func mustModel(id int) *sunspec.Model {
	m, _ := sunspec.Lookup(id)
	return m
}
