package ocppsim

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
)

// Connector states, in 1.6 words; the 2.0.1 wire maps them onto connector
// status and charging state.
const (
	stAvailable     = "Available"
	stPreparing     = "Preparing"
	stCharging      = "Charging"
	stSuspendedEVSE = "SuspendedEVSE"
	stFinishing     = "Finishing"
	stUnavailable   = "Unavailable"
)

// Car is a simulated vehicle plugged into a connector.
type Car struct {
	IdTag       string
	BatteryWh   float64 // usable capacity
	SoCPct      float64 // at arrival
	TargetSoC   float64 // stops drawing here, default 100
	MaxCurrentA float64 // on-board charger limit per phase
	Phases      int     // 1 or 3
}

// limit is a charging limit in force or on its way to the car.
type limit struct {
	unit   string // A or W; "" = none
	value  float64
	phases int
}

type connector struct {
	id       int
	status   string
	car      *Car
	session  *simSession
	energyWh float64 // the connector's register, never reset
	currentA float64 // per phase, drawn now
	phases   int
}

// simSession is one transaction. Messages queued while offline read its id
// when they are finally sent: in 1.6 the central system assigns it.
type simSession struct {
	id  string
	seq int // 2.0.1 TransactionEvent seqNo
}

// reading is what the connector's meter shows at one moment.
type reading struct {
	energyWh, powerW, offeredA, voltageV float64
	currentA                             [3]float64
	socPct                               float64 // < 0: no car
}

// Plug connects a car and starts a session: Preparing, StartTransaction
// (2.0.1: TransactionEvent Started), Charging. The messages go through the
// offline queue.
func (c *ChargePoint) Plug(n int, car Car) error {
	_, err := c.plug(n, car)
	return err
}

func (c *ChargePoint) plug(n int, car Car) (*simSession, error) {
	c.mu.Lock()
	cn, err := c.conn(n)
	if err == nil && (cn.car != nil || cn.status == stUnavailable) {
		err = fmt.Errorf("ocppsim %s: connector %d occupied or unavailable", c.cfg.ID, n)
	}
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	if car.TargetSoC == 0 {
		car.TargetSoC = 100
	}
	if car.Phases == 0 {
		car.Phases = 3
	}
	ss := &simSession{id: c.w.localTxID(n)}
	cn.car, cn.status, cn.session = &car, stPreparing, ss
	meterStart := math.Round(cn.energyWh)
	c.mu.Unlock()
	c.enqueueStatus(n)
	at := time.Now()
	c.enqueue(func() error {
		accepted, err := c.w.startTx(n, ss, car.IdTag, meterStart, at)
		if err != nil {
			return err
		}
		if !accepted {
			// StopTransactionOnInvalidId: the charger ends what it started
			// for a tag the central system refused; the car stays plugged.
			c.endSession(n, ss, "DeAuthorized", false)
			return nil
		}
		c.mu.Lock()
		if cn.session == ss {
			cn.status = stCharging
		}
		c.mu.Unlock()
		c.enqueueStatus(n)
		return nil
	})
	return ss, nil
}

// Unplug ends the session with reason (Local, EVDisconnected, Remote, ...)
// and takes the car away.
func (c *ChargePoint) Unplug(n int, reason core.Reason) error {
	c.mu.Lock()
	cn, err := c.conn(n)
	if err == nil && cn.car == nil {
		err = fmt.Errorf("ocppsim %s: no car on connector %d", c.cfg.ID, n)
	}
	var ss *simSession
	if err == nil {
		ss = cn.session
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if ss != nil {
		c.endSession(n, ss, string(reason), true)
		return nil
	}
	c.mu.Lock()
	cn.car, cn.status = nil, stAvailable
	c.mu.Unlock()
	c.enqueueStatus(n)
	return nil
}

// endSession stops ss on connector n with reason; unplug also takes the car
// away (else the connector stays Finishing with the car on the cable).
func (c *ChargePoint) endSession(n int, ss *simSession, reason string, unplug bool) {
	c.mu.Lock()
	cn := c.conns[n]
	if cn.session != ss {
		c.mu.Unlock()
		return
	}
	idTag, meterStop := cn.car.IdTag, math.Round(cn.energyWh)
	cn.session, cn.currentA, cn.status = nil, 0, stFinishing
	if unplug {
		cn.car, cn.status = nil, stAvailable
	}
	c.mu.Unlock()
	at := time.Now()
	c.enqueue(func() error { return c.w.stopTx(n, ss, idTag, meterStop, at, reason) })
	c.enqueueStatus(n)
}

// step advances the physics by dt: each car draws what the limit, the
// charger and the car allow, and stops at its target SoC.
func (c *ChargePoint) step(dt time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns[1:] {
		cn.currentA = 0
		if cn.car == nil || cn.status != stCharging {
			continue
		}
		car := cn.car
		phases := min(car.Phases, c.cfg.Phases)
		if own, _ := c.limitLocked(cn); own.phases > 0 {
			phases = min(phases, own.phases)
		}
		amps := min(c.ampsLocked(cn, phases), car.MaxCurrentA)
		if amps < 6 || car.SoCPct >= car.TargetSoC {
			amps = 0 // IEC 61851: below 6 A the car pauses
		}
		cn.currentA, cn.phases = amps, phases
		wh := amps * c.cfg.VoltageV * float64(phases) * dt.Hours()
		cn.energyWh += wh
		if car.BatteryWh > 0 {
			car.SoCPct = min(100, car.SoCPct+wh/car.BatteryWh*100)
		}
	}
}

// PowerW is the total power the charge point draws now.
func (c *ChargePoint) PowerW() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := 0.0
	for _, cn := range c.conns[1:] {
		p += cn.currentA * c.cfg.VoltageV * float64(cn.phases)
	}
	return p
}

// TotalPower returns a func summing the power of several charge points, for
// the meter simulator.
func TotalPower(cps ...*ChargePoint) func() float64 {
	return func() float64 {
		p := 0.0
		for _, cp := range cps {
			p += cp.PowerW()
		}
		return p
	}
}

// ConnectorView is what a test or the demo sees of a connector.
type ConnectorView struct {
	Status        string // 1.6 words, also for 2.0.1 chargers
	CurrentA      float64
	LimitUnit     string
	LimitValue    float64
	EnergyWh      float64
	TransactionID int    // 1.6 only (0 for 2.0.1)
	TxID          string // the transaction id in either version, "" if none (yet)
	SoCPct        float64
}

// Connector returns a connector's state.
func (c *ChargePoint) Connector(n int) ConnectorView {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn, err := c.conn(n)
	if err != nil {
		return ConnectorView{}
	}
	own, _ := c.limitLocked(cn)
	v := ConnectorView{Status: cn.status, CurrentA: cn.currentA, LimitUnit: own.unit, LimitValue: own.value, EnergyWh: cn.energyWh, SoCPct: -1}
	if cn.session != nil {
		v.TxID = cn.session.id
		if c.cfg.Version == V16 {
			v.TransactionID, _ = strconv.Atoi(cn.session.id)
		}
	}
	if cn.car != nil {
		v.SoCPct = cn.car.SoCPct
	}
	return v
}

// txID reads a session's id under the lock: the sender sets it (1.6).
func (c *ChargePoint) txID(ss *simSession) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ss.id
}

// enqueueMeterValues queues a reading for every connector with a session
// (triggered: for every connector, asked for by the central system).
func (c *ChargePoint) enqueueMeterValues(now time.Time, triggered bool) {
	c.enqueueMeterValuesOn(0, now, triggered)
}

func (c *ChargePoint) enqueueMeterValuesOn(only int, now time.Time, triggered bool) {
	type mv struct {
		n  int
		ss *simSession
		r  reading
	}
	var out []mv
	c.mu.Lock()
	for _, cn := range c.conns[1:] {
		if (only != 0 && cn.id != only) || (cn.session == nil && !triggered) {
			continue
		}
		out = append(out, mv{cn.id, cn.session, c.readingLocked(cn)})
	}
	c.mu.Unlock()
	for _, m := range out {
		c.enqueue(func() error { return c.w.meter(m.n, m.ss, m.r, now, triggered) })
	}
}

func (c *ChargePoint) readingLocked(cn *connector) reading {
	offered := c.ampsLocked(cn, max(cn.phases, 1))
	r := reading{energyWh: cn.energyWh, powerW: cn.currentA * c.cfg.VoltageV * float64(cn.phases),
		offeredA: offered, voltageV: c.cfg.VoltageV, socPct: -1}
	for i := 0; i < cn.phases && i < 3; i++ {
		r.currentA[i] = cn.currentA
	}
	if cn.car != nil {
		r.socPct = cn.car.SoCPct
	}
	return r
}
