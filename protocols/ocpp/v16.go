package ocpp

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	ocpp16 "github.com/lorenzodonini/ocpp-go/ocpp1.6"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/firmware"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/localauth"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/reservation"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	"github.com/lorenzodonini/ocpp-go/ocppj"
)

// handler16 answers OCPP 1.6J Core requests.
type handler16 struct{ s *Service }

func (s *Service) newCentralSystem16() ocpp16.CentralSystem {
	st := s.front.stacks[subproto16]
	endpoint := ocppj.NewServer(st, s.dispatcher(), newServerState(), profiles16()...)
	endpoint.SetInvalidMessageHook(s.callErrorHook())
	cs := ocpp16.NewCentralSystem(endpoint, st)
	cs.SetCoreHandler(handler16{s})
	cs.SetFirmwareManagementHandler(handler16fw{s})
	cs.SetNewChargePointHandler(func(c ocpp16.ChargePointConnection) { s.onConnect(c.ID(), subproto16) })
	cs.SetChargePointDisconnectedHandler(func(c ocpp16.ChargePointConnection) { s.onDisconnect(c.ID()) })
	return cs
}

// tagInfo is 1.6 idTagInfo: status, expiry, and the parent (group) tag so
// the charger can authorise the group locally.
func tagInfo(tag TagConfig) *types.IdTagInfo {
	info := types.NewIdTagInfo(types.AuthorizationStatus(tag.Status))
	if !tag.Expiry.IsZero() {
		info.ExpiryDate = types.NewDateTime(tag.Expiry)
	}
	info.ParentIdTag = tag.Parent
	return info
}

func when(dt *types.DateTime) time.Time {
	if dt == nil || dt.IsZero() {
		return time.Now()
	}
	return dt.Time
}

func (h handler16) OnBootNotification(id string, r *core.BootNotificationRequest) (*core.BootNotificationConfirmation, error) {
	status, err := h.s.boot(id, bootInfo{r.ChargePointVendor, r.ChargePointModel, r.ChargePointSerialNumber, r.FirmwareVersion})
	if err != nil {
		return nil, err
	}
	interval := int(h.s.cfg.HeartbeatInterval.Seconds())
	if status != "Accepted" {
		interval = 60 // how soon a pending/rejected charger may ask again
	}
	return core.NewBootNotificationConfirmation(types.NewDateTime(time.Now()), interval, core.RegistrationStatus(status)), nil
}

func (h handler16) OnHeartbeat(id string, _ *core.HeartbeatRequest) (*core.HeartbeatConfirmation, error) {
	h.s.afterMessage(id, func() { h.s.configure16(id) })
	return core.NewHeartbeatConfirmation(types.NewDateTime(time.Now())), nil
}

func (h handler16) OnStatusNotification(id string, r *core.StatusNotificationRequest) (*core.StatusNotificationConfirmation, error) {
	h.s.afterMessage(id, func() { h.s.configure16(id) })
	if err := h.s.status(id, r.ConnectorId, string(r.Status), string(r.ErrorCode), when(r.Timestamp)); err != nil {
		return nil, err
	}
	return core.NewStatusNotificationConfirmation(), nil
}

func (h handler16) OnAuthorize(id string, r *core.AuthorizeRequest) (*core.AuthorizeConfirmation, error) {
	_, tag := h.s.authorizeTag(r.IdTag, id, "", 0)
	return core.NewAuthorizationConfirmation(tagInfo(tag)), nil
}

func (h handler16) OnStartTransaction(id string, r *core.StartTransactionRequest) (*core.StartTransactionConfirmation, error) {
	ss, tag, err := h.s.startTx(txStart{charger: id, connector: r.ConnectorId, idTag: r.IdTag, meterWh: float64(r.MeterStart), meterSeen: true, at: when(r.Timestamp)})
	if err != nil {
		return nil, err
	}
	txID, _ := strconv.Atoi(ss.TransactionID)
	return core.NewStartTransactionConfirmation(tagInfo(tag), txID), nil
}

func (h handler16) OnStopTransaction(id string, r *core.StopTransactionRequest) (*core.StopTransactionConfirmation, error) {
	txID := strconv.Itoa(r.TransactionId)
	if len(r.TransactionData) > 0 {
		connector := 0
		if ss, _ := h.s.sessionByID(id, txID); ss != nil {
			connector = ss.Connector
		}
		if connector > 0 {
			if err := h.s.meter(id, connector, txID, h.s.meterValues16(id, r.TransactionData)); err != nil {
				return nil, err
			}
		}
	}
	if _, err := h.s.stopTx(id, txID, float64(r.MeterStop), when(r.Timestamp), string(r.Reason)); err != nil {
		return nil, err
	}
	conf := core.NewStopTransactionConfirmation()
	if r.IdTag != "" {
		_, tag := h.s.tags.authorize(r.IdTag)
		conf.IdTagInfo = tagInfo(tag)
	}
	return conf, nil
}

func (h handler16) OnMeterValues(id string, r *core.MeterValuesRequest) (*core.MeterValuesConfirmation, error) {
	txID := ""
	if r.TransactionId != nil {
		txID = strconv.Itoa(*r.TransactionId)
	}
	if err := h.s.meter(id, r.ConnectorId, txID, h.s.meterValues16(id, r.MeterValue)); err != nil {
		return nil, err
	}
	return core.NewMeterValuesConfirmation(), nil
}

func (h handler16) OnDataTransfer(id string, r *core.DataTransferRequest) (*core.DataTransferConfirmation, error) {
	h.s.stats.inc(id, "data_transfer")
	h.s.log.Info("ocpp: DataTransfer", "charger", id, "vendor", r.VendorId, "message", r.MessageId)
	// No vendor extensions are understood; say so per spec instead of faking.
	return core.NewDataTransferConfirmation(core.DataTransferStatusUnknownVendorId), nil
}

func (s *Service) meterValues16(id string, in []types.MeterValue) []meterSample {
	out := make([]meterSample, 0, len(in))
	for _, mv := range in {
		m := meterSample{at: when(mv.Timestamp), fields: map[string]float64{}}
		for _, sv := range mv.SampledValue {
			if sv.Format == types.ValueFormatSignedData {
				continue
			}
			name := fieldFor(string(sv.Measurand), string(sv.Phase), string(sv.Location))
			v, err := strconv.ParseFloat(sv.Value, 64)
			if name == "" {
				continue
			}
			if err != nil && !math.IsInf(v, 0) { // out of range is ±Inf: finite counts it
				s.stats.inc(id, "rejected_value")
				continue
			}
			if v, ok := s.finite(id, name, toBase(v, string(sv.Unit), 0)); ok {
				m.fields[name] = v
			}
		}
		if len(m.fields) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// configure16 sets the sample interval and what to sample. Chargers that
// refuse a key still work; the refusal is logged and counted.
func (s *Service) configure16(id string) {
	keys := [][2]string{
		{"MeterValueSampleInterval", strconv.Itoa(int(s.cfg.MeterSampleInterval.Seconds()))},
		{"MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Current.Offered,SoC"},
	}
	for _, kv := range keys {
		status, err := s.ChangeConfiguration(context.Background(), id, kv[0], kv[1])
		if err != nil || (status != "Accepted" && status != "RebootRequired") {
			s.stats.inc(id, "config_refused")
			s.log.Warn("ocpp: charger refused configuration", "charger", id, "key", kv[0], "status", status, "err", err)
		}
	}
	s.reinstallDefault(id)
	s.syncLocalListIfStale(id)
}

func profiles16() []*ocpp.Profile {
	return []*ocpp.Profile{core.Profile, localauth.Profile, firmware.Profile, reservation.Profile, remotetrigger.Profile, smartcharging.Profile}
}
