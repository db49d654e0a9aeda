package ocppsim

import (
	"strconv"
	"time"

	ocpp201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/authorization"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/availability"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/data"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/meter"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/provisioning"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/remotecontrol"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/transactions"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// wire201 speaks OCPP 2.0.1 through the library's charging station. Each
// connector is an EVSE with one connector; the station names transactions.
type wire201 struct {
	c      *ChargePoint
	cs     ocpp201.ChargingStation
	client ws.WsClient
}

func newWire201(c *ChargePoint, client ws.WsClient) *wire201 {
	ep := c.endpoint(client, authorization.Profile, availability.Profile, data.Profile, meter.Profile, provisioning.Profile,
		remotecontrol.Profile, smartcharging.Profile, transactions.Profile)
	w := &wire201{c: c, cs: ocpp201.NewChargingStation(c.cfg.ID, ep, client), client: client}
	h := &handler201{c}
	w.cs.SetProvisioningHandler(h)
	w.cs.SetAvailabilityHandler(h)
	w.cs.SetRemoteControlHandler(h)
	w.cs.SetSmartChargingHandler(h)
	w.cs.SetDataHandler(h)
	w.cs.SetAuthorizationHandler(h)
	return w
}

func (w *wire201) start(url string) error   { return w.cs.Start(url) }
func (w *wire201) stop()                    { w.cs.Stop() }
func (w *wire201) connected() bool          { return w.cs.IsConnected() }
func (w *wire201) write(frame []byte) error { return w.client.Write(frame) }
func (w *wire201) subprotocol() string      { return "ocpp2.0.1" }
func (w *wire201) malformed() []string      { return malformed201 }
func (w *wire201) bootFrame() string        { return bootFrame201 }
func (w *wire201) heartbeat() error         { _, err := w.cs.Heartbeat(); return err }
func dt201(t time.Time) *types.DateTime     { return types.NewDateTime(t) }

var malformed201 = []string{
	`{not json`,
	`[2]`,
	`"hello"`,
	`[2,"mf-1","Teleport",{}]`,
	`[2,"mf-2","Heartbeat",[]]`,
}

const bootFrame201 = `[2,"dup-boot","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"Clone","vendorName":"PolisSim"}}]`

// localTxID is unique across simulator restarts and within the 36
// characters 2.0.1 allows.
func (w *wire201) localTxID(n int) string {
	return "sim-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(n)
}

func (w *wire201) boot() (bool, time.Duration, error) {
	resp, err := w.cs.BootNotification(provisioning.BootReasonPowerUp, "PolisSim", "Polis", func(r *provisioning.BootNotificationRequest) {
		r.ChargingStation.FirmwareVersion = "sim-1.0"
	})
	if err != nil {
		return false, time.Second, err
	}
	return resp.Status == provisioning.RegistrationStatusAccepted, time.Duration(max(resp.Interval, 1)) * time.Second, nil
}

// status reports a connector state. 2.0.1 splits what 1.6 calls status in
// two: whether the connector is free (StatusNotification) and what the car
// does (chargingState of the running transaction).
func (w *wire201) status(n int, st string, ss *simSession, at time.Time) error {
	if cs := chargingState201(st); cs != "" && ss != nil {
		_, err := w.txEvent(n, ss, transactions.TransactionEventUpdated, transactions.TriggerReasonChargingStateChanged, at,
			func(r *transactions.TransactionEventRequest) { r.TransactionInfo.ChargingState = cs })
		return err
	}
	cst := availability.ConnectorStatusOccupied
	switch st {
	case stAvailable:
		cst = availability.ConnectorStatusAvailable
	case stUnavailable:
		cst = availability.ConnectorStatusUnavailable
	case "Faulted":
		cst = availability.ConnectorStatusFaulted
	case "Reserved":
		cst = availability.ConnectorStatusReserved
	}
	_, err := w.cs.StatusNotification(dt201(at), cst, n, 1)
	return err
}

func chargingState201(st string) transactions.ChargingState {
	switch st {
	case stCharging:
		return transactions.ChargingStateCharging
	case "SuspendedEV":
		return transactions.ChargingStateSuspendedEV
	case stSuspendedEVSE:
		return transactions.ChargingStateSuspendedEVSE
	}
	return ""
}

// txEvent sends one TransactionEvent. seqNo counts per transaction and only
// moves on once the CSMS has the event: a resent event keeps its number.
func (w *wire201) txEvent(n int, ss *simSession, ev transactions.TransactionEvent, why transactions.TriggerReason, at time.Time,
	props ...func(*transactions.TransactionEventRequest)) (*transactions.TransactionEventResponse, error) {
	w.c.mu.Lock()
	seq, id := ss.seq, ss.id
	w.c.mu.Unlock()
	connector := 1
	props = append([]func(*transactions.TransactionEventRequest){func(r *transactions.TransactionEventRequest) {
		r.Evse = &types.EVSE{ID: n, ConnectorID: &connector}
	}}, props...)
	resp, err := w.cs.TransactionEvent(ev, dt201(at), why, seq, transactions.Transaction{TransactionID: id}, props...)
	if err == nil {
		w.c.mu.Lock()
		ss.seq++
		w.c.mu.Unlock()
	}
	return resp, err
}

func (w *wire201) startTx(n int, ss *simSession, idTag string, meterWh float64, at time.Time) (bool, error) {
	resp, err := w.txEvent(n, ss, transactions.TransactionEventStarted, transactions.TriggerReasonAuthorized, at, func(r *transactions.TransactionEventRequest) {
		r.TransactionInfo.ChargingState = transactions.ChargingStateEVConnected
		r.IDToken = &types.IdToken{IdToken: idTag, Type: types.IdTokenTypeISO14443}
		r.MeterValue = []types.MeterValue{energy201(meterWh, at, types.ReadingContextTransactionBegin)}
	})
	if err != nil {
		return false, err
	}
	return resp.IDTokenInfo != nil && resp.IDTokenInfo.Status == types.AuthorizationStatusAccepted, nil
}

func (w *wire201) meter(n int, ss *simSession, r reading, at time.Time, triggered bool) error {
	ctx := types.ReadingContextSamplePeriodic
	if triggered {
		ctx = types.ReadingContextTrigger
	}
	mv := []types.MeterValue{{Timestamp: *dt201(at), SampledValue: sampled201(r, ctx)}}
	if triggered || ss == nil {
		// Asked for by TriggerMessage(MeterValues), or no transaction: the
		// MeterValues message, not a TransactionEvent.
		_, err := w.cs.MeterValues(n, mv)
		return err
	}
	_, err := w.txEvent(n, ss, transactions.TransactionEventUpdated, transactions.TriggerReasonMeterValuePeriodic, at,
		func(r *transactions.TransactionEventRequest) { r.MeterValue = mv })
	return err
}

func (w *wire201) stopTx(n int, ss *simSession, idTag string, meterWh float64, at time.Time, reason string) error {
	stopped, why := transactions.Reason(reason), transactions.TriggerReasonStopAuthorized
	switch reason {
	case "EVDisconnected":
		why = transactions.TriggerReasonEVCommunicationLost
	case "Remote":
		why = transactions.TriggerReasonRemoteStop
	case "DeAuthorized":
		why = transactions.TriggerReasonDeAuthorized
	case "HardReset", "SoftReset", "ImmediateReset":
		stopped, why = transactions.ReasonImmediateReset, transactions.TriggerReasonResetCommand
	case "UnlockCommand":
		stopped, why = transactions.ReasonOther, transactions.TriggerReasonUnlockCommand
	}
	_, err := w.txEvent(n, ss, transactions.TransactionEventEnded, why, at, func(r *transactions.TransactionEventRequest) {
		r.TransactionInfo.StoppedReason = stopped
		r.TransactionInfo.ChargingState = transactions.ChargingStateIdle
		r.MeterValue = []types.MeterValue{energy201(meterWh, at, types.ReadingContextTransactionEnd)}
	})
	return err
}

func (w *wire201) authorize(idTag string) (string, error) {
	resp, err := w.cs.Authorize(idTag, types.IdTokenTypeISO14443)
	if err != nil {
		return "", err
	}
	return string(resp.IdTokenInfo.Status), nil
}

func (w *wire201) dataTransfer(vendorID, messageID, payload string) (string, error) {
	resp, err := w.cs.DataTransfer(vendorID, func(r *data.DataTransferRequest) { r.MessageID, r.Data = messageID, payload })
	if err != nil {
		return "", err
	}
	return string(resp.Status), nil
}

func energy201(wh float64, at time.Time, ctx types.ReadingContext) types.MeterValue {
	return types.MeterValue{Timestamp: *dt201(at), SampledValue: []types.SampledValue{{Value: wh,
		Measurand: types.MeasurandEnergyActiveImportRegister, Context: ctx, UnitOfMeasure: &types.UnitOfMeasure{Unit: "Wh"}}}}
}

func sampled201(r reading, ctx types.ReadingContext) []types.SampledValue {
	unit := func(u string) *types.UnitOfMeasure { return &types.UnitOfMeasure{Unit: u} }
	vals := []types.SampledValue{
		{Value: r.energyWh / 1000, Measurand: types.MeasurandEnergyActiveImportRegister, Context: ctx, UnitOfMeasure: unit("kWh")},
		{Value: r.powerW, Measurand: types.MeasurandPowerActiveImport, Context: ctx, UnitOfMeasure: unit("W")},
		{Value: r.offeredA, Measurand: types.MeasurandCurrentOffered, Context: ctx, UnitOfMeasure: unit("A")},
	}
	for i, ph := range []types.Phase{types.PhaseL1, types.PhaseL2, types.PhaseL3} {
		vals = append(vals,
			types.SampledValue{Value: r.currentA[i], Measurand: types.MeasurandCurrentImport, Phase: ph, Context: ctx, UnitOfMeasure: unit("A")},
			types.SampledValue{Value: r.voltageV, Measurand: types.MeasurandVoltage, Phase: ph + "-N", Context: ctx, UnitOfMeasure: unit("V")})
	}
	if r.socPct >= 0 {
		vals = append(vals, types.SampledValue{Value: r.socPct, Measurand: types.MeasurandSoC, Location: types.LocationEV, Context: ctx, UnitOfMeasure: unit("Percent")})
	}
	return vals
}
