package ocpp

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	ocpp201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/authorization"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/availability"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/data"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/diagnostics"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/display"
	fw201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/firmware"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/iso15118"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/localauth"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/meter"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/provisioning"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/remotecontrol"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/reservation"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/security"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/transactions"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
	"github.com/lorenzodonini/ocpp-go/ocppj"
)

// handler201 answers OCPP 2.0.1 requests through the same engine as 1.6;
// EVSE ids play the role of 1.6 connector ids.
type handler201 struct{ s *Service }

func (s *Service) newCSMS201() ocpp201.CSMS {
	st := s.front.stacks[subproto201]
	endpoint := ocppj.NewServer(st, s.dispatcher(), newServerState(), profiles201()...)
	endpoint.SetInvalidMessageHook(s.callErrorHook())
	cs := ocpp201.NewCSMS(endpoint, st)
	h := handler201{s}
	cs.SetProvisioningHandler(h)
	cs.SetAvailabilityHandler(h)
	cs.SetAuthorizationHandler(h)
	cs.SetMeterHandler(h)
	cs.SetTransactionsHandler(h)
	cs.SetDataHandler(h)
	cs.SetDiagnosticsHandler(h)
	cs.SetDisplayHandler(h)
	cs.SetFirmwareHandler(h)
	cs.SetISO15118Handler(h)
	cs.SetReservationHandler(h)
	cs.SetSecurityHandler(h)
	cs.SetSmartChargingHandler(h)
	cs.SetNewChargingStationHandler(func(c ocpp201.ChargingStationConnection) { s.onConnect(c.ID(), subproto201) })
	cs.SetChargingStationDisconnectedHandler(func(c ocpp201.ChargingStationConnection) { s.onDisconnect(c.ID()) })
	return cs
}

func profiles201() []*ocpp.Profile {
	return []*ocpp.Profile{authorization.Profile, availability.Profile, data.Profile,
		diagnostics.Profile, display.Profile, fw201.Profile, iso15118.Profile, localauth.Profile, meter.Profile,
		provisioning.Profile, remotecontrol.Profile, reservation.Profile, security.Profile, smartcharging.Profile, transactions.Profile}
}

// dispatcher bounds the per-charger request queue and makes the library give
// up on an unanswered request when we do, so one dead charger's queue does
// not hold later commands for the library's default 30 s.
func (s *Service) dispatcher() ocppj.ServerDispatcher {
	d := ocppj.NewDefaultServerDispatcher(ocppj.NewFIFOQueueMap(64))
	d.SetTimeout(s.cfg.CommandTimeout)
	return d
}

// newServerState gives the pending-request state its own lock. By default
// the library shares the dispatcher's RWMutex: SendRequest holds it for
// reading while it waits for the message pump, and the pump needs it for
// writing to record the pending request, which deadlocks under concurrent
// commands (seen with 100 chargers in the benchmark).
func newServerState() ocppj.ServerState { return ocppj.NewServerState(&sync.RWMutex{}) }

func when201(dt *types.DateTime) time.Time {
	if dt == nil || dt.IsZero() {
		return time.Now()
	}
	return dt.Time
}

// tokenInfo is 2.0.1 idTokenInfo: status, cache expiry, and the group token
// (Master Pass, local group authorisation C47-C49).
func tokenInfo(tag TagConfig) *types.IdTokenInfo {
	info := types.NewIdTokenInfo(types.AuthorizationStatus(tag.Status))
	if !tag.Expiry.IsZero() {
		info.CacheExpiryDateTime = types.NewDateTime(tag.Expiry)
	}
	if tag.Parent != "" {
		info.GroupIdToken = &types.GroupIdToken{IdToken: tag.Parent, Type: types.IdTokenTypeCentral}
	}
	return info
}

func (h handler201) OnBootNotification(id string, r *provisioning.BootNotificationRequest) (*provisioning.BootNotificationResponse, error) {
	cs := r.ChargingStation
	status, err := h.s.boot(id, bootInfo{cs.VendorName, cs.Model, cs.SerialNumber, cs.FirmwareVersion})
	if err != nil {
		return nil, err
	}
	interval := int(h.s.cfg.HeartbeatInterval.Seconds())
	if status != "Accepted" {
		interval = 60
	}
	return provisioning.NewBootNotificationResponse(types.NewDateTime(time.Now()), interval, provisioning.RegistrationStatus(status)), nil
}

func (h handler201) OnNotifyReport(string, *provisioning.NotifyReportRequest) (*provisioning.NotifyReportResponse, error) {
	return provisioning.NewNotifyReportResponse(), nil
}

func (h handler201) OnHeartbeat(id string, _ *availability.HeartbeatRequest) (*availability.HeartbeatResponse, error) {
	h.s.afterMessage(id, func() { h.s.configure201(id) })
	return availability.NewHeartbeatResponse(*types.NewDateTime(time.Now())), nil
}

func (h handler201) OnStatusNotification(id string, r *availability.StatusNotificationRequest) (*availability.StatusNotificationResponse, error) {
	h.s.afterMessage(id, func() { h.s.configure201(id) })
	if err := h.s.status(id, r.EvseID, h.s.connectorStatus201(id, r.EvseID, r.ConnectorStatus), "", when201(r.Timestamp)); err != nil {
		return nil, err
	}
	return availability.NewStatusNotificationResponse(), nil
}

func (h handler201) OnAuthorize(id string, r *authorization.AuthorizeRequest) (*authorization.AuthorizeResponse, error) {
	_, tag := h.s.authorizeTag(r.IdToken.IdToken, id, "", 0)
	return authorization.NewAuthorizationResponse(*tokenInfo(tag)), nil
}

func (h handler201) OnMeterValues(id string, r *meter.MeterValuesRequest) (*meter.MeterValuesResponse, error) {
	if err := h.s.meter(id, r.EvseID, "", h.s.meterValues201(id, r.MeterValue)); err != nil {
		return nil, err
	}
	return meter.NewMeterValuesResponse(), nil
}

func (h handler201) OnDataTransfer(id string, r *data.DataTransferRequest) (*data.DataTransferResponse, error) {
	h.s.stats.inc(id, "data_transfer")
	return data.NewDataTransferResponse(data.DataTransferStatusUnknownVendorId), nil
}

// OnTransactionEvent maps Started/Updated/Ended onto the 1.6-shaped engine.
func (h handler201) OnTransactionEvent(id string, r *transactions.TransactionEventRequest) (*transactions.TransactionEventResponse, error) {
	txID := r.TransactionInfo.TransactionID
	at := when201(r.Timestamp)
	samples := h.s.meterValues201(id, r.MeterValue)
	evse := 0
	if r.Evse != nil {
		evse = r.Evse.ID
	}
	if ss, _ := h.s.sessionByID(id, txID); ss != nil && evse == 0 {
		evse = ss.Connector
	}
	resp := transactions.NewTransactionEventResponse()
	idTag := ""
	if r.IDToken != nil {
		idTag = r.IDToken.IdToken
		_, tag := h.s.authorizeTag(idTag, id, txID, evse)
		resp.IDTokenInfo = tokenInfo(tag)
	}
	if r.EventType == transactions.TransactionEventStarted {
		// Without a register in Started (allowed), the first one seen in the
		// transaction is its start; the EVSE's lifetime register is not.
		start := txStart{charger: id, connector: evse, txID: txID, idTag: idTag, at: at, meterSeen: hasEnergy(samples)}
		if start.meterSeen {
			start.meterWh = h.s.energyAt(id, evse, samples)
		}
		_, tag, err := h.s.startTx(start)
		if err != nil {
			return nil, err
		}
		if r.IDToken != nil {
			resp.IDTokenInfo = tokenInfo(tag)
		}
	} else if r.IDToken != nil {
		// E02: cable first, the token comes in an Updated (or Ended) event.
		if err := h.s.authorizeTx(id, txID, idTag, at); err != nil {
			return nil, err
		}
	}
	from, to, err := h.s.trackSeq(id, txID, r.SequenceNo)
	if err != nil {
		return nil, err
	}
	if to > from {
		go h.s.checkGap(id, txID, from, to)
	}
	if len(samples) > 0 && evse > 0 {
		if err := h.s.meter(id, evse, txID, samples); err != nil {
			return nil, err
		}
	}
	if st := chargingStatus(r.TransactionInfo.ChargingState); st != "" && evse > 0 {
		if err := h.s.status(id, evse, st, "", at); err != nil {
			return nil, err
		}
	}
	if r.EventType == transactions.TransactionEventEnded {
		if _, err := h.s.stopTx(id, txID, h.s.energyAt(id, evse, samples), at, string(r.TransactionInfo.StoppedReason)); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// connectorStatus201 keeps what a transaction told us: 2.0.1 says only
// "Occupied" where 1.6 says Preparing, Charging, SuspendedEV..., and the
// rules need to know whether the car is charging. A StatusNotification
// (Occupied) after TransactionEvent (Charging) must not hide that while the
// transaction runs.
func (s *Service) connectorStatus201(id string, evse int, st availability.ConnectorStatus) string {
	if st != availability.ConnectorStatusOccupied {
		return string(st)
	}
	if v := s.view(id); v != nil {
		if cs := v.connector(evse); cs != nil && cs.Session != nil {
			switch cs.Status {
			case "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing":
				return cs.Status
			}
		}
	}
	return string(st)
}

// chargingStatus gives 2.0.1 charging states the 1.6 status names the rules
// and dashboards already use.
func chargingStatus(cs transactions.ChargingState) string {
	switch cs {
	case transactions.ChargingStateCharging:
		return "Charging"
	case transactions.ChargingStateSuspendedEV:
		return "SuspendedEV"
	case transactions.ChargingStateSuspendedEVSE:
		return "SuspendedEVSE"
	case transactions.ChargingStateEVConnected:
		return "Preparing"
	}
	return ""
}

// energyAt is the energy register from the event's samples, else the last
// one seen in the transaction.
func (s *Service) energyAt(id string, evse int, samples []meterSample) float64 {
	for i := len(samples) - 1; i >= 0; i-- {
		if e, ok := samples[i].fields["energy_wh"]; ok {
			return e
		}
	}
	if v := s.view(id); v != nil {
		if cs := v.connector(evse); cs != nil {
			if cs.Session != nil && cs.Session.LastMeterWh > cs.EnergyWh {
				return cs.Session.LastMeterWh
			}
			return cs.EnergyWh
		}
	}
	return 0
}

func hasEnergy(samples []meterSample) bool {
	for _, m := range samples {
		if _, ok := m.fields["energy_wh"]; ok {
			return true
		}
	}
	return false
}

func (s *Service) meterValues201(id string, in []types.MeterValue) []meterSample {
	out := make([]meterSample, 0, len(in))
	for _, mv := range in {
		m := meterSample{at: when201(&mv.Timestamp), fields: map[string]float64{}}
		for _, sv := range mv.SampledValue {
			name := fieldFor(string(sv.Measurand), string(sv.Phase), string(sv.Location))
			if name == "" || sv.SignedMeterValue != nil {
				continue
			}
			unit, mult := "", 0
			if sv.UnitOfMeasure != nil {
				unit = sv.UnitOfMeasure.Unit
				if sv.UnitOfMeasure.Multiplier != nil {
					mult = *sv.UnitOfMeasure.Multiplier
				}
			}
			if v, ok := s.finite(id, name, toBase(sv.Value, unit, mult)); ok {
				m.fields[name] = v
			}
		}
		if len(m.fields) > 0 {
			out = append(out, m)
		}
	}
	return out
}

func (s *Service) configure201(id string) {
	status, err := s.ChangeConfiguration(context.Background(), id, "SampledDataCtrlr.TxUpdatedInterval",
		strconv.Itoa(int(s.cfg.MeterSampleInterval.Seconds())))
	if err != nil || status != "Accepted" {
		s.stats.inc(id, "config_refused")
		s.log.Warn("ocpp: charger refused configuration", "charger", id, "status", status, "err", err)
	}
	s.reinstallDefault(id)
	s.syncLocalListIfStale(id)
}

var _ ocpp.Request = (*remotecontrol.TriggerMessageRequest)(nil)
