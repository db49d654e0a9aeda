package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/polis-edge/polis/protocols/health"
	"github.com/polis-edge/polis/protocols/modbus/sunspec"
	"github.com/polis-edge/polis/protocols/sample"
)

// Model ids by role, in order of preference.
var (
	inverterModels = []int{103, 113, 102, 112, 101, 111}
	meterModels    = []int{203, 213, 204, 214, 202, 212, 201, 211}
)

// absurdPolls is how many consecutive implausible polls make us distrust the
// cached map and rediscover.
const absurdPolls = 3

// sunspecDevice polls one SunSpec device; its state is guarded by device.mu.
type sunspecDevice struct {
	d      *device
	smap   *sunspec.Map
	main   sunspec.ModelRef // the inverter or meter model
	spans  []span
	info   map[string]string // Mn, Md, SN from model 1
	ratedW float64           // model 120 WRtg, 0 if unknown
	wmaxW  float64           // model 121 WMax, 0 if unknown
	acc    map[string]*accumulator
	absurd int
	events eventTracker
	limit  *limitState
}

func newSunspecDevice(d *device) *sunspecDevice {
	return &sunspecDevice{d: d, acc: map[string]*accumulator{}}
}

func (s *sunspecDevice) discover(ctx context.Context) error {
	m, err := sunspec.Discover(ctx, s.d.unit)
	if err != nil {
		switch {
		case errors.Is(err, sunspec.ErrNoSunS):
			return fail(health.Misconfigured, "sunspec: %w", err)
		case errors.Is(err, sunspec.ErrLength):
			return fail(health.Stale, "sunspec: %w", err)
		}
		return ioFail("sunspec discovery", err)
	}
	roles := inverterModels
	if s.d.cfg.Kind == KindMeter {
		roles = meterModels
	}
	main, ok := m.Find(roles...)
	if !ok {
		return fail(health.Misconfigured, "sunspec: no %s model on the device (models %v)", s.d.cfg.Kind, ids(m))
	}
	s.smap, s.main = m, main
	s.spans = []span{{FC: 3, Start: int(main.Addr), End: main.End()}}
	for _, id := range []int{160, 123, 704} {
		if r, ok := m.Find(id); ok && s.d.cfg.Kind == KindInverter {
			s.spans = append(s.spans, span{FC: 3, Start: int(r.Addr), End: r.End()})
		}
	}
	// The map is a chain of adjacent models, so merging any gap is safe.
	s.spans = plan(s.spans, 125)
	s.readStatic(ctx)
	s.d.count("discoveries", 1)
	s.d.log.Info("sunspec map discovered", "base", m.Base, "models", ids(m), "info", s.info)
	return nil
}

// readStatic reads nameplate data once; failures only cost the extras.
func (s *sunspecDevice) readStatic(ctx context.Context) {
	s.info, s.ratedW, s.wmaxW = map[string]string{}, 0, 0
	if b, err := s.readModel(ctx, 1); err == nil {
		for _, k := range []string{"Mn", "Md", "SN", "Vr"} {
			if v, ok := b.Text[k]; ok {
				s.info[k] = v
			}
		}
	}
	if b, err := s.readModel(ctx, 120); err == nil {
		s.ratedW = b.Num["WRtg"]
	}
	if b, err := s.readModel(ctx, 121); err == nil {
		s.wmaxW = b.Num["WMax"]
	}
}

func (s *sunspecDevice) readModel(ctx context.Context, id int) (*sunspec.Block, error) {
	r, ok := s.smap.Find(id)
	if !ok {
		return nil, fmt.Errorf("model %d not present", id)
	}
	def, ok := sunspec.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("model %d not known", id)
	}
	imgs, _, err := readPlan(ctx, s.d.unit, []span{{FC: 3, Start: int(r.Addr), End: r.End()}}, s.d.cfg.MaxRegisters)
	if err != nil {
		return nil, err
	}
	return sunspec.Decode(def, imgs[0].regs)
}

func (s *sunspecDevice) poll(ctx context.Context, now time.Time) ([]sample.Sample, error) {
	if s.smap == nil {
		if err := s.discover(ctx); err != nil {
			return nil, err
		}
	}
	imgs, _, err := readPlan(ctx, s.d.unit, s.spans, s.d.cfg.MaxRegisters)
	if err != nil {
		return nil, ioFail("read", err)
	}
	blocks := map[int]*sunspec.Block{}
	for _, r := range s.smap.Models {
		def, ok := sunspec.Lookup(r.ID)
		regs := lookup(imgs, 3, int(r.Addr), 2+r.Len)
		if !ok || regs == nil {
			continue
		}
		b, err := sunspec.Decode(def, regs)
		if err != nil {
			s.forget("decode failed")
			return nil, fail(health.Stale, "sunspec: %w (map dropped, rediscovering)", err)
		}
		blocks[r.ID] = b
	}
	var out []sample.Sample
	if s.d.cfg.Kind == KindInverter {
		out, err = s.pvSamples(blocks, now)
	} else {
		out, err = s.gridSamples(blocks[s.main.ID], now)
	}
	if err != nil {
		s.d.count("rejected_absurd", 1)
		if s.absurd++; s.absurd >= absurdPolls {
			s.forget("implausible values")
		}
		return nil, err
	}
	s.absurd = 0
	return out, nil
}

// forget drops the cached map so the next poll rediscovers it.
func (s *sunspecDevice) forget(why string) {
	s.d.log.Warn("sunspec map dropped", "why", why)
	s.smap, s.absurd = nil, 0
}

// powerBound is the largest believable power: configured, else 1.5x nameplate,
// else 1 MW (no post office has more).
func (s *sunspecDevice) powerBound() float64 {
	if s.d.cfg.MaxPowerW > 0 {
		return s.d.cfg.MaxPowerW
	}
	if s.ratedW > 0 {
		return 1.5 * s.ratedW
	}
	return 1e6
}

func ids(m *sunspec.Map) []int {
	out := make([]int, len(m.Models))
	for i, r := range m.Models {
		out[i] = r.ID
	}
	return out
}

// accumulator unwraps a 32-bit energy counter that rolled over.
type accumulator struct {
	last  float64
	wraps int
}

// value returns the monotonic counter for raw v; span is the counter's range
// in engineering units (2^32 * 10^sf), 0 for float counters that do not wrap.
func (s *sunspecDevice) accumulate(key string, v, span float64) float64 {
	a, ok := s.acc[key]
	if !ok {
		s.acc[key] = &accumulator{last: v}
		return v
	}
	if span > 0 && v < a.last && a.last-v > span/2 {
		a.wraps++
	}
	a.last = v
	return v + float64(a.wraps)*span
}

func accSpan(b *sunspec.Block, sf string) float64 {
	if x, ok := b.Num[sf]; ok {
		return math.Ldexp(1, 32) * math.Pow10(int(x))
	}
	return 0
}
