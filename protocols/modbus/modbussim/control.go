package modbussim

import "fmt"

// Run-time controls for tests and demos: faults, raw register overrides and
// inverter faults.

func (d *simDevice) applyPokes() {
	for addr, w := range d.pokes {
		b := d.bank()
		if addr >= b.start && addr+len(w) <= b.start+len(b.regs) {
			copy(b.regs[addr-b.start:], w)
		}
	}
}

func (d *simDevice) bank() *bank {
	switch u := d.u.(type) {
	case *inverter:
		return &u.bank
	case *sunspecMeter:
		return &u.bank
	case *sdm630:
		return &u.bank
	case *em24:
		return &u.bank
	}
	return &bank{}
}

func (s *Sim) device(name string) (*simDevice, error) {
	d, ok := s.devices[name]
	if !ok {
		return nil, fmt.Errorf("modbussim: no device %q", name)
	}
	return d, nil
}

// SetFaults changes a device's fault probabilities at run time.
func (s *Sim) SetFaults(name string, f Faults) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.device(name)
	if err == nil {
		d.faults = f
	}
	return err
}

// Poke overrides registers from addr on, surviving physics updates, to inject
// sentinels, garbage or a broken map. Unpoke removes all overrides.
func (s *Sim) Poke(name string, addr uint16, words ...uint16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.device(name)
	if err != nil {
		return err
	}
	b := d.bank()
	a := int(addr) - b.start
	if a < 0 || a+len(words) > len(b.regs) {
		return fmt.Errorf("modbussim: %s has no registers %d+%d", name, addr, len(words))
	}
	if _, ok := d.saved[int(addr)]; !ok {
		d.saved[int(addr)] = append([]uint16(nil), b.regs[a:a+len(words)]...)
	}
	d.pokes[int(addr)] = append([]uint16(nil), words...)
	d.applyPokes()
	return nil
}

// PokePoint is Poke addressed by SunSpec model and point (rep < 0: fixed part).
func (s *Sim) PokePoint(name string, model int, point string, rep int, words ...uint16) error {
	addr, err := s.PointAddr(name, model, point, rep)
	if err != nil {
		return err
	}
	return s.Poke(name, addr, words...)
}

// PointAddr is the register address of a SunSpec point on a simulated device.
func (s *Sim) PointAddr(name string, model int, point string, rep int) (uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.device(name)
	if err != nil {
		return 0, err
	}
	var su *sunspecUnit
	switch u := d.u.(type) {
	case *inverter:
		su = u.sunspecUnit
	case *sunspecMeter:
		su = u.sunspecUnit
	default:
		return 0, fmt.Errorf("modbussim: %s is not a SunSpec device", name)
	}
	img, ok := su.models[model]
	if !ok {
		return 0, fmt.Errorf("modbussim: %s has no model %d", name, model)
	}
	off, err := img.Offset(point, rep)
	if err != nil {
		return 0, err
	}
	return uint16(su.addrs[model] + off), nil
}

// Unpoke removes a device's register overrides (the next step restores values).
func (s *Sim) Unpoke(name string) error {
	s.mu.Lock()
	d, err := s.device(name)
	if err == nil {
		b := d.bank()
		for addr, w := range d.saved { // registers physics never rewrites (L, ID, marker)
			copy(b.regs[addr-b.start:], w)
		}
		d.pokes, d.saved = map[int][]uint16{}, map[int][]uint16{}
	}
	s.mu.Unlock()
	if err == nil {
		s.step()
	}
	return err
}

// SetInverterFault raises Evt1 bits (0 clears): the inverter reports FAULT
// and stops producing.
func (s *Sim) SetInverterFault(name string, evt1 uint32) error {
	s.mu.Lock()
	d, err := s.device(name)
	if err == nil {
		inv, ok := d.u.(*inverter)
		if !ok {
			err = fmt.Errorf("modbussim: %s is not an inverter", name)
		} else {
			inv.faultBits = evt1
		}
	}
	s.mu.Unlock()
	if err == nil {
		s.step()
	}
	return err
}

// InverterLimitPct is the production limit (percent of rated power) the
// inverter applied at the last physics step: 100 when not curtailed. Tests
// read it to see that a curtailment written over Modbus took effect.
func (s *Sim) InverterLimitPct(name string) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.device(name)
	if err != nil {
		return 0, err
	}
	inv, ok := d.u.(*inverter)
	if !ok {
		return 0, fmt.Errorf("modbussim: %s is not an inverter", name)
	}
	return inv.limitedPct, nil
}
