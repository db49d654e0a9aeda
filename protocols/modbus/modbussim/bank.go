package modbussim

import (
	"math"

	mb "github.com/simonvetter/modbus"
)

// bank is a block of registers starting at start.
type bank struct {
	start int
	regs  []uint16
}

func (b *bank) slice(addr, n int) ([]uint16, error) {
	if addr < b.start || addr+n > b.start+len(b.regs) {
		return nil, mb.ErrIllegalDataAddress
	}
	out := make([]uint16, n)
	copy(out, b.regs[addr-b.start:])
	return out, nil
}

func (b *bank) putF32(addr int, v float64) {
	u := math.Float32bits(float32(v))
	b.regs[addr-b.start], b.regs[addr-b.start+1] = uint16(u>>16), uint16(u)
}

// putS32LowFirst stores an INT32 low word first (Carlo Gavazzi order).
func (b *bank) putS32LowFirst(addr int, v float64) {
	u := uint32(int32(math.Round(v)))
	b.regs[addr-b.start], b.regs[addr-b.start+1] = uint16(u), uint16(u>>16)
}

// unitSim is one simulated unit's register behaviour. Calls happen with the
// simulator's lock held.
type unitSim interface {
	read(fc int, addr, n int) ([]uint16, error)
	write(addr int, vals []uint16) error
	// absurd returns what a broken device would answer for the same read.
	absurd(fc int, addr, n int) ([]uint16, error)
	update(e *env)
}
