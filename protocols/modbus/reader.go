package modbus

import (
	"context"
	"fmt"
	"sort"
)

// unit is one device's view of its bus.
type unit struct {
	bus *bus
	id  uint8
}

func (u unit) ReadHolding(ctx context.Context, addr, n uint16) ([]uint16, error) {
	return u.bus.call(ctx, request{unit: u.id, fc: 3, addr: addr, n: n})
}

func (u unit) read(ctx context.Context, fc int, addr, n uint16) ([]uint16, error) {
	return u.bus.call(ctx, request{unit: u.id, fc: fc, addr: addr, n: n})
}

func (u unit) write(ctx context.Context, addr uint16, vals []uint16) error {
	_, err := u.bus.call(ctx, request{unit: u.id, fc: 16, addr: addr, vals: vals})
	return err
}

// span is a register range [Start, End) read with one function code.
type span struct {
	FC         int
	Start, End int
}

// image holds registers read for one merged span.
type image struct {
	span
	regs []uint16
}

// regs returns n registers at addr from the images, or nil.
func lookup(imgs []image, fc, addr, n int) []uint16 {
	for _, im := range imgs {
		if im.FC == fc && addr >= im.Start && addr+n <= im.End {
			return im.regs[addr-im.Start : addr-im.Start+n]
		}
	}
	return nil
}

// plan merges spans that are at most maxGap registers apart, so a device is
// read in as few requests as it allows; chunking to maxRegs happens on read.
func plan(spans []span, maxGap int) []span {
	s := append([]span(nil), spans...)
	sort.Slice(s, func(i, j int) bool {
		if s[i].FC != s[j].FC {
			return s[i].FC < s[j].FC
		}
		return s[i].Start < s[j].Start
	})
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 && out[n-1].FC == x.FC && x.Start-out[n-1].End <= maxGap {
			out[n-1].End = max(out[n-1].End, x.End)
			continue
		}
		out = append(out, x)
	}
	return out
}

// readPlan reads merged spans in requests of at most maxRegs registers.
func readPlan(ctx context.Context, u unit, spans []span, maxRegs int) ([]image, int, error) {
	var imgs []image
	requests := 0
	for _, sp := range spans {
		im := image{span: sp, regs: make([]uint16, 0, sp.End-sp.Start)}
		for a := sp.Start; a < sp.End; a += maxRegs {
			n := min(maxRegs, sp.End-a)
			regs, err := u.read(ctx, sp.FC, uint16(a), uint16(n))
			requests++
			if err != nil {
				return nil, requests, err
			}
			if len(regs) != n {
				return nil, requests, fmt.Errorf("read %d@%d: got %d registers", n, a, len(regs))
			}
			im.regs = append(im.regs, regs...)
		}
		imgs = append(imgs, im)
	}
	return imgs, requests, nil
}
