package ocppsim

import (
	"time"
)

// What the central system can ask of a charge point, independent of the
// OCPP version; each version's handlers translate their requests to these.

// setAvailability changes connector n (0: all). A connector with a session
// keeps charging and changes when the session ends (scheduled).
func (c *ChargePoint) setAvailability(n int, operative bool) (known, scheduled bool) {
	c.mu.Lock()
	var changed []int
	for _, cn := range c.conns[1:] {
		if n != 0 && n != cn.id {
			continue
		}
		known = true
		if cn.session != nil || cn.car != nil {
			scheduled = true
			continue
		}
		cn.status = stAvailable
		if !operative {
			cn.status = stUnavailable
		}
		changed = append(changed, cn.id)
	}
	c.mu.Unlock()
	for _, id := range changed {
		c.enqueueStatus(id)
	}
	return known, scheduled
}

// remoteStart plugs a default car, as if the driver had already connected
// the cable.
func (c *ChargePoint) remoteStart(n int, idTag string) (*simSession, error) {
	return c.plug(n, Car{IdTag: idTag, BatteryWh: 60000, SoCPct: 20, MaxCurrentA: 16, Phases: 3})
}

// remoteStop ends the session with txID (reason Remote) and reports whether
// there was one. The stop goes through the queue after the answer.
func (c *ChargePoint) remoteStop(txID string) bool {
	c.mu.Lock()
	found := 0
	for _, cn := range c.conns[1:] {
		if cn.session != nil && cn.session.id == txID {
			found = cn.id
		}
	}
	c.mu.Unlock()
	if found == 0 {
		return false
	}
	go func() { _ = c.Unplug(found, "Remote") }()
	return true
}

// unlock releases connector n's cable. A session on it ends first (1.6:
// StopTransaction reason UnlockCommand); refuse says 2.0.1 refuses instead.
func (c *ChargePoint) unlock(n int, refuse bool) (known, refused bool) {
	c.mu.Lock()
	cn, err := c.conn(n)
	var ss *simSession
	if err == nil {
		ss = cn.session
	}
	c.mu.Unlock()
	if err != nil {
		return false, false
	}
	if ss != nil && refuse {
		return true, true
	}
	if ss != nil {
		go c.endSession(n, ss, "UnlockCommand", true)
	}
	return true, false
}

// reset reboots the charger after the answer: running sessions stop with
// reason, the cars are taken away, and the charger boots again and reports
// its connectors. The socket stays up (the library client cannot be
// restarted), which is what the central system sees of a fast reboot.
func (c *ChargePoint) reset(reason string) {
	go func() {
		for n := 1; n <= c.cfg.Connectors; n++ {
			c.mu.Lock()
			ss := c.conns[n].session
			c.mu.Unlock()
			if ss != nil {
				c.endSession(n, ss, reason, true)
			}
		}
		c.enqueue(func() error {
			accepted, _, err := c.w.boot()
			if err == nil && accepted {
				c.booted()
			}
			return err
		})
		for n := 1; n <= c.cfg.Connectors; n++ {
			c.enqueueStatus(n)
		}
	}()
}

// busy reports whether any connector has a session.
func (c *ChargePoint) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns[1:] {
		if cn.session != nil {
			return true
		}
	}
	return false
}

// trigger sends the message the central system asked for; false when the
// simulator does not implement that one.
func (c *ChargePoint) trigger(message string, n int) bool {
	switch message {
	case "StatusNotification":
		for i := 1; i <= c.cfg.Connectors; i++ {
			if n == 0 || n == i {
				c.enqueueStatus(i)
			}
		}
	case "MeterValues":
		c.enqueueMeterValuesOn(n, time.Now(), true)
	case "Heartbeat":
		c.enqueue(c.w.heartbeat)
	default:
		return false
	}
	return true
}

func (c *ChargePoint) setInterval(d time.Duration) {
	c.mu.Lock()
	c.interval = d
	c.mu.Unlock()
}

func (c *ChargePoint) meterInterval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.interval
}
