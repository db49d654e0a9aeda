package ocppsim

import (
	"strconv"
	"time"

	ocpp16 "github.com/lorenzodonini/ocpp-go/ocpp1.6"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/firmware"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/localauth"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/reservation"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// wire16 speaks OCPP 1.6J through the library's charge point.
type wire16 struct {
	c      *ChargePoint
	cp     ocpp16.ChargePoint
	client ws.WsClient
}

func newWire16(c *ChargePoint, client ws.WsClient) *wire16 {
	ep := c.endpoint(client, core.Profile, localauth.Profile, firmware.Profile, reservation.Profile, remotetrigger.Profile, smartcharging.Profile)
	w := &wire16{c: c, cp: ocpp16.NewChargePoint(c.cfg.ID, ep, client), client: client}
	h := &handler16{c}
	w.cp.SetCoreHandler(h)
	w.cp.SetSmartChargingHandler(h)
	w.cp.SetRemoteTriggerHandler(h)
	return w
}

func (w *wire16) start(url string) error   { return w.cp.Start(url) }
func (w *wire16) stop()                    { w.cp.Stop() }
func (w *wire16) connected() bool          { return w.cp.IsConnected() }
func (w *wire16) write(frame []byte) error { return w.client.Write(frame) }
func (w *wire16) subprotocol() string      { return "ocpp1.6" }
func (w *wire16) localTxID(int) string     { return "" }
func (w *wire16) heartbeat() error         { _, err := w.cp.Heartbeat(); return err }
func dt16(t time.Time) *types.DateTime     { return types.NewDateTime(t) }
func fmt1(v float64) string                { return strconv.FormatFloat(v, 'f', 1, 64) }
func (w *wire16) txID(ss *simSession) int  { n, _ := strconv.Atoi(w.c.txID(ss)); return n }
func (w *wire16) malformed() []string      { return malformed16 }
func (w *wire16) bootFrame() string        { return bootFrame16 }

// Frames a broken 1.6 firmware might send: each must get a CALLERROR where
// it has a message id, and none may hurt the connection.
var malformed16 = []string{
	`{not json`,
	`[2]`,
	`"hello"`,
	`[2,"mf-1","Teleport",{}]`,
	`[2,"mf-2","StatusNotification",{"connectorId":"one","errorCode":"NoError","status":"Available"}]`,
}

const bootFrame16 = `[2,"dup-boot","BootNotification",{"chargePointVendor":"PolisSim","chargePointModel":"Clone"}]`

func (w *wire16) boot() (bool, time.Duration, error) {
	conf, err := w.cp.BootNotification("Polis", "PolisSim", func(r *core.BootNotificationRequest) {
		r.FirmwareVersion = "sim-1.0"
	})
	if err != nil {
		return false, time.Second, err
	}
	return conf.Status == core.RegistrationStatusAccepted, time.Duration(max(conf.Interval, 1)) * time.Second, nil
}

func (w *wire16) status(n int, st string, _ *simSession, at time.Time) error {
	_, err := w.cp.StatusNotification(n, core.NoError, core.ChargePointStatus(st), func(r *core.StatusNotificationRequest) {
		r.Timestamp = dt16(at)
	})
	return err
}

func (w *wire16) startTx(n int, ss *simSession, idTag string, meterWh float64, at time.Time) (bool, error) {
	conf, err := w.cp.StartTransaction(n, idTag, int(meterWh), dt16(at))
	if err != nil {
		return false, err
	}
	w.c.mu.Lock()
	ss.id = strconv.Itoa(conf.TransactionId)
	w.c.mu.Unlock()
	return conf.IdTagInfo != nil && conf.IdTagInfo.Status == types.AuthorizationStatusAccepted, nil
}

func (w *wire16) meter(n int, ss *simSession, r reading, at time.Time, triggered bool) error {
	ctx := types.ReadingContextSamplePeriodic
	if triggered {
		ctx = types.ReadingContextTrigger
	}
	mv := []types.MeterValue{{Timestamp: dt16(at), SampledValue: sampled16(r, ctx)}}
	_, err := w.cp.MeterValues(n, mv, func(req *core.MeterValuesRequest) {
		if ss != nil {
			if id := w.txID(ss); id > 0 {
				req.TransactionId = &id
			}
		}
	})
	return err
}

func (w *wire16) stopTx(_ int, ss *simSession, idTag string, meterWh float64, at time.Time, reason string) error {
	data := []types.MeterValue{{Timestamp: dt16(at), SampledValue: []types.SampledValue{{Value: strconv.Itoa(int(meterWh)),
		Measurand: types.MeasurandEnergyActiveImportRegister, Unit: types.UnitOfMeasureWh, Context: types.ReadingContextTransactionEnd}}}}
	_, err := w.cp.StopTransaction(int(meterWh), dt16(at), w.txID(ss), func(r *core.StopTransactionRequest) {
		r.IdTag, r.Reason, r.TransactionData = idTag, core.Reason(reason), data
	})
	return err
}

func (w *wire16) authorize(idTag string) (string, error) {
	conf, err := w.cp.Authorize(idTag)
	if err != nil {
		return "", err
	}
	return string(conf.IdTagInfo.Status), nil
}

func (w *wire16) dataTransfer(vendorID, messageID, data string) (string, error) {
	conf, err := w.cp.DataTransfer(vendorID, func(r *core.DataTransferRequest) { r.MessageId, r.Data = messageID, data })
	if err != nil {
		return "", err
	}
	return string(conf.Status), nil
}

func sampled16(r reading, ctx types.ReadingContext) []types.SampledValue {
	vals := []types.SampledValue{
		{Value: strconv.FormatFloat(r.energyWh/1000, 'f', 4, 64), Measurand: types.MeasurandEnergyActiveImportRegister, Unit: types.UnitOfMeasureKWh, Context: ctx},
		{Value: fmt1(r.powerW), Measurand: types.MeasurandPowerActiveImport, Unit: types.UnitOfMeasureW, Context: ctx},
		{Value: fmt1(r.offeredA), Measurand: types.MeasurandCurrentOffered, Unit: types.UnitOfMeasureA, Context: ctx},
	}
	for i, ph := range []types.Phase{types.PhaseL1, types.PhaseL2, types.PhaseL3} {
		vals = append(vals,
			types.SampledValue{Value: fmt1(r.currentA[i]), Measurand: types.MeasurandCurrentImport, Phase: ph, Unit: types.UnitOfMeasureA, Context: ctx},
			types.SampledValue{Value: fmt1(r.voltageV), Measurand: types.MeasurandVoltage, Phase: ph + "-N", Unit: types.UnitOfMeasureV, Context: ctx})
	}
	if r.socPct >= 0 {
		vals = append(vals, types.SampledValue{Value: fmt1(r.socPct), Measurand: types.MeasurandSoC, Unit: types.UnitOfMeasurePercent, Location: types.LocationEV, Context: ctx})
	}
	return vals
}
