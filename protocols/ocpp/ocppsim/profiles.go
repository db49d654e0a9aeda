package ocppsim

import (
	"slices"
	"time"
)

// Charging profiles as a charger keeps them (OCPP 1.6 §3.13, 2.0.1 K01):
// installed by id, replaced by id, stacked by level, and combined per
// connector: a TxProfile for the running transaction beats a TxDefaultProfile
// on the connector, which beats one on connector 0; the charger-wide max
// profile caps them all. Profiles take ProfileDelay to reach the car.

// Profile purposes, spelled as in 1.6; 2.0.1's ChargingStationMaxProfile is
// stored as ChargePointMaxProfile.
const (
	purposeMax       = "ChargePointMaxProfile"
	purposeTxDefault = "TxDefaultProfile"
	purposeTx        = "TxProfile"
)

type profile struct {
	id, connector, stack int
	purpose              string
	txID                 string // TxProfile only
	lim                  limit
	activeAt             time.Time
}

// ProfileView is an installed profile as tests see it.
type ProfileView struct {
	ID, Connector, StackLevel int
	Purpose, TxID, Unit       string
	Limit                     float64
}

// installProfile stores p, replacing a profile with the same id or the same
// (connector, purpose, stack level), as the specs require.
func (c *ChargePoint) installProfile(p profile) {
	p.activeAt = time.Now().Add(c.cfg.ProfileDelay)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.profiles = slices.DeleteFunc(c.profiles, func(o profile) bool {
		return o.id == p.id || (o.connector == p.connector && o.purpose == p.purpose && o.stack == p.stack)
	})
	c.profiles = append(c.profiles, p)
}

// clearProfiles removes the profiles matching every criterion given (nil or
// "" matches all) and returns how many went.
func (c *ChargePoint) clearProfiles(id, connector *int, purpose string, stack *int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.profiles)
	c.profiles = slices.DeleteFunc(c.profiles, func(o profile) bool {
		return (id == nil || o.id == *id) && (connector == nil || o.connector == *connector) &&
			(purpose == "" || o.purpose == purpose) && (stack == nil || o.stack == *stack)
	})
	return n - len(c.profiles)
}

// Profiles lists the installed profiles.
func (c *ChargePoint) Profiles() []ProfileView {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ProfileView, 0, len(c.profiles))
	for _, p := range c.profiles {
		out = append(out, ProfileView{ID: p.id, Connector: p.connector, StackLevel: p.stack, Purpose: p.purpose, TxID: p.txID, Unit: p.lim.unit, Limit: p.lim.value})
	}
	return out
}

// limitLocked is the limit in force on cn now (unit "" for none) and the
// charger-wide cap; c.mu must be held.
func (c *ChargePoint) limitLocked(cn *connector) (own, max limit) {
	return c.limitsLocked(cn, false)
}

// limitsLocked is limitLocked, with pending: also profiles that have not
// reached the car yet.
func (c *ChargePoint) limitsLocked(cn *connector, pending bool) (own, max limit) {
	now := time.Now()
	best := func(match func(profile) bool) (limit, bool) {
		var out profile
		found := false
		for _, p := range c.profiles {
			if (!pending && now.Before(p.activeAt)) || !match(p) {
				continue
			}
			if !found || p.stack > out.stack {
				out, found = p, true
			}
		}
		return out.lim, found
	}
	if cn.session != nil {
		if l, ok := best(func(p profile) bool {
			return p.purpose == purposeTx && (p.connector == cn.id || p.connector == 0) && p.txID == cn.session.id
		}); ok {
			own = l
		}
	}
	if own.unit == "" {
		if l, ok := best(func(p profile) bool { return p.purpose == purposeTxDefault && p.connector == cn.id }); ok {
			own = l
		} else if l, ok := best(func(p profile) bool { return p.purpose == purposeTxDefault && p.connector == 0 }); ok {
			own = l
		}
	}
	max, _ = best(func(p profile) bool { return p.purpose == purposeMax })
	return own, max
}

// ampsLocked is the per-phase current the limits allow at phases.
func (c *ChargePoint) ampsLocked(cn *connector, phases int) float64 {
	return c.ampsForLocked(cn, phases, false)
}

func (c *ChargePoint) ampsForLocked(cn *connector, phases int, pending bool) float64 {
	amps := c.cfg.MaxCurrentA
	own, max := c.limitsLocked(cn, pending)
	for _, l := range []limit{own, max} {
		switch l.unit {
		case "A":
			amps = min(amps, l.value)
		case "W":
			amps = min(amps, l.value/(c.cfg.VoltageV*float64(phases)))
		}
	}
	return amps
}

// profileTarget checks where a purpose may be installed: the max profile
// only on connector 0, a TxProfile only on a connector (1.6 §5.16.3,
// 2.0.1 K01.FR.16), any purpose only on a connector that exists.
func (c *ChargePoint) profileTarget(purpose string, connector int) bool {
	if connector < 0 || connector > c.cfg.Connectors {
		return false
	}
	switch purpose {
	case purposeMax:
		return connector == 0
	case purposeTx:
		return connector > 0
	case purposeTxDefault:
		return true
	}
	return false
}

// ForgetProfiles drops every profile, as a charger without persistent
// profile storage does on reboot.
func (c *ChargePoint) ForgetProfiles() {
	c.mu.Lock()
	c.profiles = nil
	c.mu.Unlock()
}

// composite is the charger's answer to GetCompositeSchedule for connector n
// (0: the charger) in unit: its profiles hold one value each, so it is one
// period, the current the connector may draw now (capped by the hardware's
// MaxCurrentA), profiles still on their way (ProfileDelay) included. ok
// false: no such connector.
func (c *ChargePoint) composite(n int, unit string) (float64, bool) {
	if n < 0 || n >= len(c.conns) {
		return 0, false
	}
	c.mu.Lock()
	var amps float64
	if n == 0 { // the charger: its max profile alone
		amps = c.cfg.MaxCurrentA
		if _, max := c.limitsLocked(&connector{}, true); max.unit == "A" {
			amps = min(amps, max.value)
		} else if max.unit == "W" {
			amps = min(amps, max.value/(c.cfg.VoltageV*float64(c.cfg.Phases)))
		}
	} else {
		amps = c.ampsForLocked(c.conns[n], c.cfg.Phases, true)
	}
	c.mu.Unlock()
	if unit == "W" {
		return amps * c.cfg.VoltageV * float64(c.cfg.Phases), true
	}
	return amps, true
}
