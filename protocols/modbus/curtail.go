package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/polis-edge/polis/protocols/modbus/sunspec"
)

// ErrNoControl means the inverter offers neither model 704 nor 123.
var ErrNoControl = errors.New("inverter has no curtailment model (704 or 123)")

// limitState is an active curtailment the device loop keeps alive.
type limitState struct {
	pct    float64
	setAt  time.Time
	revert time.Duration
}

// limitFromBlocks reads the active limit back from 704 (preferred) or 123.
func limitFromBlocks(blocks map[int]*sunspec.Block) (pct float64, active, ok bool) {
	if b := blocks[704]; b != nil {
		pct, ok = b.Num["WMaxLimPct"]
		return pct, b.Num["WMaxLimPctEna"] == 1, ok
	}
	if b := blocks[123]; b != nil {
		pct, ok = b.Num["WMaxLimPct"]
		return pct, b.Num["WMaxLim_Ena"] == 1, ok
	}
	return 0, false, false
}

// setLimit writes and confirms a limit; the caller holds d.mu.
func (s *sunspecDevice) setLimit(ctx context.Context, pct float64, now time.Time) error {
	if s.smap == nil {
		if err := s.discover(ctx); err != nil {
			return err
		}
	}
	revert := s.d.cfg.LimitRevert
	secs := uint32(revert / time.Second)
	id, err := s.writeLimit(ctx, pct, secs, true)
	if err != nil {
		return err
	}
	if err := s.confirm(ctx, id, pct, true); err != nil {
		return err
	}
	s.limit = &limitState{pct: pct, setAt: now, revert: revert}
	s.d.count("limit_writes", 1)
	return nil
}

func (s *sunspecDevice) clearLimit(ctx context.Context) error {
	if s.smap == nil {
		if err := s.discover(ctx); err != nil {
			return err
		}
	}
	id, err := s.writeLimit(ctx, 100, 0, false)
	if err != nil {
		return err
	}
	if err := s.confirm(ctx, id, 100, false); err != nil {
		return err
	}
	s.limit = nil
	return nil
}

// writeLimit writes model 704 when present, else 123, and returns which.
func (s *sunspecDevice) writeLimit(ctx context.Context, pct float64, secs uint32, enable bool) (int, error) {
	id := 704
	b, err := s.readModel(ctx, 704)
	if err != nil {
		id = 123
		if b, err = s.readModel(ctx, 123); err != nil {
			if _, ok := s.smap.Find(704, 123); !ok {
				return 0, ErrNoControl
			}
			return 0, fmt.Errorf("read control model: %w", err)
		}
	}
	sf, ok := b.Num["WMaxLimPct_SF"]
	if !ok {
		return 0, fmt.Errorf("model %d: WMaxLimPct_SF not implemented", id)
	}
	raw := func(p float64) uint16 { return uint16(math.Round(p / math.Pow10(int(sf)))) }
	ena := uint16(0)
	if enable {
		ena = 1
	}
	ref, _ := s.smap.Find(id)
	def := mustModel(id)
	var first string
	var vals []uint16
	if id == 704 {
		// Ena, Pct, Rvrt (value after the timeout), EnaRvrt, RvrtTms (uint32)
		first = "WMaxLimPctEna"
		vals = []uint16{ena, raw(pct), raw(100), 0, uint16(secs >> 16), uint16(secs)}
	} else {
		// WMaxLimPct, WinTms, RvrtTms, RmpTms, WMaxLim_Ena; window and ramp kept
		first = "WMaxLimPct"
		win, rmp := keep(b, "WMaxLimPct_WinTms"), keep(b, "WMaxLimPct_RmpTms")
		vals = []uint16{raw(pct), win, uint16(min(secs, 65534)), rmp, ena}
	}
	p, _ := def.Point(first)
	if err := s.d.unit.write(ctx, ref.Addr+uint16(p.Offset), vals); err != nil {
		return id, fmt.Errorf("write model %d limit: %w", id, err)
	}
	return id, nil
}

func keep(b *sunspec.Block, name string) uint16 {
	if v, ok := b.Num[name]; ok {
		return uint16(v)
	}
	return 0
}

// confirm reads the model back: a write the inverter silently ignored must not
// look like curtailment to the rules.
func (s *sunspecDevice) confirm(ctx context.Context, id int, pct float64, enabled bool) error {
	b, err := s.readModel(ctx, id)
	if err != nil {
		return fmt.Errorf("read back model %d: %w", id, err)
	}
	got, active, _ := limitFromBlocks(map[int]*sunspec.Block{id: b})
	if active != enabled || (enabled && math.Abs(got-pct) > 0.5) {
		return fmt.Errorf("read back model %d: limit %.1f%% enabled=%v, wrote %.1f%% enabled=%v", id, got, active, pct, enabled)
	}
	return nil
}

// refreshLimit rewrites an active limit at half its revert time, so it holds
// while the edge lives and lapses on its own when the edge dies.
func (s *sunspecDevice) refreshLimit(ctx context.Context, now time.Time) {
	if s.limit == nil || now.Sub(s.limit.setAt) < s.limit.revert/2 {
		return
	}
	if err := s.setLimit(ctx, s.limit.pct, now); err != nil {
		s.d.count("limit_refresh_errors", 1)
		s.d.log.Warn("curtailment refresh failed", "err", err)
	}
}
