package sunspec

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoSunS means none of the usual base addresses holds the "SunS" marker.
var ErrNoSunS = errors.New(`no "SunS" marker at 40000, 50000 or 0`)

// Bases are the addresses where the SunSpec marker may sit, in search order.
var Bases = []uint16{40000, 50000, 0}

// Marker is "SunS" as two registers.
var Marker = [2]uint16{0x5375, 0x6e53}

// EndID terminates the model chain.
const EndID = 0xFFFF

// maxModels bounds the chain walk so a device answering nonsense cannot keep
// us walking forever.
const maxModels = 64

// Reader reads holding registers of one device.
type Reader interface {
	ReadHolding(ctx context.Context, addr, n uint16) ([]uint16, error)
}

// ModelRef locates one model instance on a device.
type ModelRef struct {
	ID   int
	Addr uint16 // address of the model's ID register
	Len  int    // the model's L register (data length, ID and L excluded)
}

// End is the address just past the model.
func (r ModelRef) End() int { return int(r.Addr) + 2 + r.Len }

// Map is a device's discovered model chain.
type Map struct {
	Base   uint16
	Models []ModelRef
}

// Find returns the first model with one of the ids, in the order given.
func (m *Map) Find(ids ...int) (ModelRef, bool) {
	for _, id := range ids {
		for _, r := range m.Models {
			if r.ID == id {
				return r, true
			}
		}
	}
	return ModelRef{}, false
}

// Discover finds the marker and walks the model chain. A transport error at
// every base is returned as is (the device is unreachable, not non-SunSpec).
func Discover(ctx context.Context, r Reader) (*Map, error) {
	var lastIOErr error // first transport error
	answered := false
	for _, base := range Bases {
		regs, err := r.ReadHolding(ctx, base, 2)
		if err != nil {
			if !IsException(err) {
				if lastIOErr == nil { // the first failure says why; later ones may only say "backing off"
					lastIOErr = err
				}
				if ctx.Err() != nil {
					return nil, err
				}
			} else {
				answered = true
			}
			continue
		}
		answered = true
		if len(regs) == 2 && regs[0] == Marker[0] && regs[1] == Marker[1] {
			return walk(ctx, r, base)
		}
	}
	if !answered && lastIOErr != nil {
		return nil, fmt.Errorf("discover: %w", lastIOErr)
	}
	return nil, ErrNoSunS
}

func walk(ctx context.Context, r Reader, base uint16) (*Map, error) {
	m := &Map{Base: base}
	addr := int(base) + 2
	for i := 0; i < maxModels; i++ {
		if addr+2 > 0x10000 {
			return nil, fmt.Errorf("discover: model chain runs past register 65535")
		}
		hdr, err := r.ReadHolding(ctx, uint16(addr), 2)
		if err != nil {
			return nil, fmt.Errorf("discover: model header at %d: %w", addr, err)
		}
		if hdr[0] == EndID {
			return m, nil
		}
		ref := ModelRef{ID: int(hdr[0]), Addr: uint16(addr), Len: int(hdr[1])}
		if def, ok := Lookup(ref.ID); ok {
			if _, err := def.RepeatCount(ref.Len); err != nil {
				return nil, fmt.Errorf("discover at %d: %w", addr, err)
			}
		}
		m.Models = append(m.Models, ref)
		addr = ref.End()
	}
	return nil, fmt.Errorf("discover: more than %d models, no end marker", maxModels)
}

// IsException tells Modbus exception responses (the device answered "no")
// apart from transport failures. The bus layer wraps exceptions in
// ExceptionError so this package stays free of the client library.
func IsException(err error) bool {
	var e ExceptionError
	return errors.As(err, &e)
}

// ExceptionError is a Modbus exception response.
type ExceptionError struct{ Err error }

func (e ExceptionError) Error() string { return "modbus exception: " + e.Err.Error() }
func (e ExceptionError) Unwrap() error { return e.Err }
