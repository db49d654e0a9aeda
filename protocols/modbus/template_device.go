package modbus

import (
	"context"
	"math"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus/templates"
	"github.com/polis-edge/polis/protocols/sample"
)

// templateDevice polls a device described by a register-map template.
type templateDevice struct {
	d     *device
	tpl   *templates.Template
	spans []span
}

func (t *templateDevice) plan() []span {
	if t.spans == nil {
		var s []span
		for _, p := range t.tpl.Points {
			s = append(s, span{FC: p.Function, Start: int(p.Register), End: int(p.Register) + p.Size()})
		}
		t.spans = plan(s, t.tpl.MaxGap)
	}
	return t.spans
}

func (t *templateDevice) maxRegs() int {
	if t.tpl.MaxRegs > 0 && t.tpl.MaxRegs < t.d.cfg.MaxRegisters {
		return t.tpl.MaxRegs
	}
	return t.d.cfg.MaxRegisters
}

func (t *templateDevice) poll(ctx context.Context, now time.Time) ([]sample.Sample, error) {
	imgs, _, err := readPlan(ctx, t.d.unit, t.plan(), t.maxRegs())
	if err != nil {
		return nil, ioFail("read", err)
	}
	f := map[string]any{}
	for _, p := range t.tpl.Points {
		regs := lookup(imgs, p.Function, int(p.Register), p.Size())
		if v, ok := p.Decode(p.Register, regs); ok {
			f[p.Field] = v
		} else {
			t.d.count("rejected_out_of_bounds", 1)
		}
	}
	if len(f) == 0 {
		return nil, fail(health.Stale, "template %s: no plausible value in the answer", t.tpl.Name)
	}
	bound := t.d.cfg.MaxPowerW
	if bound == 0 {
		bound = 1e6
	}
	for _, k := range []string{"power_w", "ac_power_w"} {
		if w, ok := f[k].(float64); ok && math.Abs(w) > bound {
			t.d.count("rejected_absurd", 1)
			return nil, fail(health.Stale, "implausible %s %.0f W (bound %.0f W): not stored", k, w, bound)
		}
	}
	m := MeasurementPV
	if t.tpl.Kind == KindMeter {
		m = MeasurementGrid
		splitImportExport(f)
	}
	return []sample.Sample{{Measurement: m, Tags: map[string]string{sample.TagDevice: t.d.cfg.ID},
		Fields: f, Time: now}}, nil
}
