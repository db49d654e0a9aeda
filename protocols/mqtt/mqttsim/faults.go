package mqttsim

import "github.com/polis-edge/polis/protocols/mqtt/locker"

// hazards runs one second of the bank's bad luck: mains failures and
// controller faults at their configured daily rates.
func (b *Bank) hazards() {
	b.mu.Lock()
	onBattery := b.power == locker.PowerBattery
	b.mu.Unlock()
	switch {
	case !onBattery && b.cfg.PowerFailuresPerDay > 0 && b.chance(b.cfg.PowerFailuresPerDay/86400):
		b.PowerFailure()
	case onBattery && b.chance(1/b.cfg.OutageSeconds):
		b.PowerRestored()
	}
	if b.cfg.FaultsPerDay > 0 && b.chance(b.cfg.FaultsPerDay/86400) {
		b.ControllerFault("watchdog reset")
	}
}

// chance draws from the bank's generator, which paho's goroutine shares.
func (b *Bank) chance(p float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rng.Float64() < p
}

// PowerFailure reports lost mains: the controller carries on from its UPS.
func (b *Bank) PowerFailure() {
	b.setPower(locker.PowerBattery, locker.EventPowerFailure, "mains lost, running on UPS")
}

// PowerRestored reports mains back.
func (b *Bank) PowerRestored() { b.setPower(locker.PowerMains, locker.EventPowerRestored, "") }

func (b *Bank) setPower(power, typ, detail string) {
	b.mu.Lock()
	if b.power == power {
		b.mu.Unlock()
		return
	}
	b.power = power
	e := b.event(typ, "", "")
	e.Detail = detail
	b.mu.Unlock()
	b.publishEvent(e)
	b.publishStatus()
}

// ControllerFault reports a controller fault, as a technician's test would.
func (b *Bank) ControllerFault(detail string) {
	b.mu.Lock()
	e := b.event(locker.EventControllerFault, "", "")
	e.Detail = detail
	b.mu.Unlock()
	b.publishEvent(e)
}
