package ocppsim

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
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
	status   core.ChargePointStatus
	car      *Car
	session  *simSession
	energyWh float64 // the connector's register, never reset
	currentA float64 // per phase, drawn now
	phases   int
	limit    limit // in force
}

// simSession tracks the id the central system assigned; messages queued
// while offline read it when they are finally sent.
type simSession struct {
	txID int
}

// Plug connects a car and starts a session: Preparing, StartTransaction,
// Charging. The messages go through the offline queue.
func (c *ChargePoint) Plug(n int, car Car) error {
	c.mu.Lock()
	cn, err := c.conn(n)
	if err != nil || cn.car != nil {
		c.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("ocppsim %s: connector %d occupied", c.cfg.ID, n)
		}
		return err
	}
	if car.TargetSoC == 0 {
		car.TargetSoC = 100
	}
	if car.Phases == 0 {
		car.Phases = 3
	}
	cn.car, cn.status = &car, core.ChargePointStatusPreparing
	ss := &simSession{}
	cn.session = ss
	meterStart := int(cn.energyWh)
	c.mu.Unlock()
	c.enqueueStatus(n)
	at := types.NewDateTime(time.Now())
	c.enqueue(func() error {
		conf, err := c.cp.StartTransaction(n, car.IdTag, meterStart, at)
		if err != nil {
			return err
		}
		c.mu.Lock()
		ss.txID = conf.TransactionId
		accepted := conf.IdTagInfo != nil && conf.IdTagInfo.Status == types.AuthorizationStatusAccepted
		if accepted {
			cn.status = core.ChargePointStatusCharging
		} else {
			cn.status = core.ChargePointStatusSuspendedEVSE
		}
		c.mu.Unlock()
		c.enqueueStatus(n)
		return nil
	})
	return nil
}

// Unplug ends the session with reason (Local, EVDisconnected, Remote, ...).
func (c *ChargePoint) Unplug(n int, reason core.Reason) error {
	c.mu.Lock()
	cn, err := c.conn(n)
	if err != nil || cn.session == nil {
		c.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("ocppsim %s: no session on connector %d", c.cfg.ID, n)
		}
		return err
	}
	ss, idTag, meterStop := cn.session, cn.car.IdTag, int(math.Round(cn.energyWh))
	cn.car, cn.session, cn.currentA, cn.status = nil, nil, 0, core.ChargePointStatusAvailable
	c.mu.Unlock()
	at := types.NewDateTime(time.Now())
	data := []types.MeterValue{{Timestamp: at, SampledValue: []types.SampledValue{
		{Value: strconv.Itoa(meterStop), Measurand: types.MeasurandEnergyActiveImportRegister, Unit: types.UnitOfMeasureWh, Context: types.ReadingContextTransactionEnd}}}}
	c.enqueue(func() error {
		c.mu.Lock()
		txID := ss.txID
		c.mu.Unlock()
		_, err := c.cp.StopTransaction(meterStop, at, txID, func(r *core.StopTransactionRequest) {
			r.IdTag, r.Reason, r.TransactionData = idTag, reason, data
		})
		return err
	})
	c.enqueueStatus(n)
	return nil
}

// step advances the physics by dt: each car draws what the limit, the
// charger and the car allow, and stops at its target SoC.
func (c *ChargePoint) step(dt time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns[1:] {
		cn.currentA = 0
		if cn.car == nil || cn.status != core.ChargePointStatusCharging {
			continue
		}
		car := cn.car
		phases := min(car.Phases, c.cfg.Phases)
		if cn.limit.phases > 0 {
			phases = min(phases, cn.limit.phases)
		}
		amps := min(c.cfg.MaxCurrentA, car.MaxCurrentA)
		switch cn.limit.unit {
		case "A":
			amps = min(amps, cn.limit.value)
		case "W":
			amps = min(amps, cn.limit.value/(c.cfg.VoltageV*float64(phases)))
		}
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
	Status        string
	CurrentA      float64
	LimitUnit     string
	LimitValue    float64
	EnergyWh      float64
	TransactionID int
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
	v := ConnectorView{Status: string(cn.status), CurrentA: cn.currentA, LimitUnit: cn.limit.unit, LimitValue: cn.limit.value, EnergyWh: cn.energyWh, SoCPct: -1}
	if cn.session != nil {
		v.TransactionID = cn.session.txID
	}
	if cn.car != nil {
		v.SoCPct = cn.car.SoCPct
	}
	return v
}

func (c *ChargePoint) enqueueMeterValues(now time.Time) {
	c.mu.Lock()
	type mv struct {
		n    int
		tx   *simSession
		vals []types.SampledValue
	}
	var out []mv
	for _, cn := range c.conns[1:] {
		if cn.session == nil {
			continue
		}
		out = append(out, mv{cn.id, cn.session, c.sampled(cn)})
	}
	c.mu.Unlock()
	at := types.NewDateTime(now)
	for _, m := range out {
		c.enqueue(func() error {
			c.mu.Lock()
			txID := m.tx.txID
			c.mu.Unlock()
			_, err := c.cp.MeterValues(m.n, []types.MeterValue{{Timestamp: at, SampledValue: m.vals}}, func(r *core.MeterValuesRequest) {
				if txID > 0 {
					r.TransactionId = &txID
				}
			})
			return err
		})
	}
}

func (c *ChargePoint) sampled(cn *connector) []types.SampledValue {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	offered := c.cfg.MaxCurrentA
	if cn.limit.unit == "A" {
		offered = min(offered, cn.limit.value)
	}
	vals := []types.SampledValue{
		{Value: strconv.FormatFloat(cn.energyWh/1000, 'f', 4, 64), Measurand: types.MeasurandEnergyActiveImportRegister, Unit: types.UnitOfMeasureKWh},
		{Value: f(cn.currentA * c.cfg.VoltageV * float64(cn.phases)), Measurand: types.MeasurandPowerActiveImport, Unit: types.UnitOfMeasureW},
		{Value: f(offered), Measurand: types.MeasurandCurrentOffered, Unit: types.UnitOfMeasureA},
	}
	for i, ph := range []types.Phase{types.PhaseL1, types.PhaseL2, types.PhaseL3} {
		a := 0.0
		if i < cn.phases {
			a = cn.currentA
		}
		vals = append(vals,
			types.SampledValue{Value: f(a), Measurand: types.MeasurandCurrentImport, Phase: ph, Unit: types.UnitOfMeasureA},
			types.SampledValue{Value: f(c.cfg.VoltageV), Measurand: types.MeasurandVoltage, Phase: ph + "-N", Unit: types.UnitOfMeasureV})
	}
	if cn.car != nil {
		vals = append(vals, types.SampledValue{Value: f(cn.car.SoCPct), Measurand: types.MeasurandSoC, Unit: types.UnitOfMeasurePercent, Location: types.LocationEV})
	}
	return vals
}
