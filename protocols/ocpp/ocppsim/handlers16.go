package ocppsim

import (
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
)

// handler16 answers the central system's 1.6 requests like a real charger.
type handler16 struct{ c *ChargePoint }

func (h *handler16) OnSetChargingProfile(r *smartcharging.SetChargingProfileRequest) (*smartcharging.SetChargingProfileConfirmation, error) {
	p := r.ChargingProfile
	rejected := smartcharging.NewSetChargingProfileConfirmation(smartcharging.ChargingProfileStatusRejected)
	if h.c.cfg.Misbehave.RejectProfiles || p == nil || p.ChargingSchedule == nil || len(p.ChargingSchedule.ChargingSchedulePeriod) == 0 {
		return rejected, nil
	}
	purpose := string(p.ChargingProfilePurpose)
	if !h.c.profileTarget(purpose, r.ConnectorId) {
		return rejected, nil
	}
	period := p.ChargingSchedule.ChargingSchedulePeriod[0]
	l := limit{unit: string(p.ChargingSchedule.ChargingRateUnit), value: period.Limit}
	if period.NumberPhases != nil {
		l.phases = *period.NumberPhases
	}
	txID := ""
	if purpose == purposeTx {
		txID = strconv.Itoa(p.TransactionId)
	}
	h.c.installProfile(profile{id: p.ChargingProfileId, connector: r.ConnectorId, stack: p.StackLevel, purpose: purpose, txID: txID, lim: l})
	return smartcharging.NewSetChargingProfileConfirmation(smartcharging.ChargingProfileStatusAccepted), nil
}

func (h *handler16) OnClearChargingProfile(r *smartcharging.ClearChargingProfileRequest) (*smartcharging.ClearChargingProfileConfirmation, error) {
	if h.c.clearProfiles(r.Id, r.ConnectorId, string(r.ChargingProfilePurpose), r.StackLevel) == 0 {
		return smartcharging.NewClearChargingProfileConfirmation(smartcharging.ClearChargingProfileStatusUnknown), nil
	}
	return smartcharging.NewClearChargingProfileConfirmation(smartcharging.ClearChargingProfileStatusAccepted), nil
}

func (h *handler16) OnGetCompositeSchedule(r *smartcharging.GetCompositeScheduleRequest) (*smartcharging.GetCompositeScheduleConfirmation, error) {
	unit := string(r.ChargingRateUnit)
	if unit == "" {
		unit = "A"
	}
	v, ok := h.c.composite(r.ConnectorId, unit)
	if !ok {
		return smartcharging.NewGetCompositeScheduleConfirmation(smartcharging.GetCompositeScheduleStatusRejected), nil
	}
	now := types.NewDateTime(time.Now().Truncate(time.Second))
	sched := types.NewChargingSchedule(types.ChargingRateUnitType(unit), types.NewChargingSchedulePeriod(0, v))
	sched.Duration, sched.StartSchedule = &r.Duration, now
	conf := smartcharging.NewGetCompositeScheduleConfirmation(smartcharging.GetCompositeScheduleStatusAccepted)
	conf.ConnectorId, conf.ScheduleStart, conf.ChargingSchedule = &r.ConnectorId, now, sched
	return conf, nil
}

func (h *handler16) OnChangeAvailability(r *core.ChangeAvailabilityRequest) (*core.ChangeAvailabilityConfirmation, error) {
	known, scheduled := h.c.setAvailability(r.ConnectorId, r.Type == core.AvailabilityTypeOperative)
	switch {
	case !known:
		return core.NewChangeAvailabilityConfirmation(core.AvailabilityStatusRejected), nil
	case scheduled:
		return core.NewChangeAvailabilityConfirmation(core.AvailabilityStatusScheduled), nil
	}
	return core.NewChangeAvailabilityConfirmation(core.AvailabilityStatusAccepted), nil
}

func (h *handler16) OnChangeConfiguration(r *core.ChangeConfigurationRequest) (*core.ChangeConfigurationConfirmation, error) {
	switch r.Key {
	case "MeterValueSampleInterval":
		sec, err := strconv.Atoi(r.Value)
		if err != nil || sec < 1 {
			return core.NewChangeConfigurationConfirmation(core.ConfigurationStatusRejected), nil
		}
		h.c.setInterval(time.Duration(sec) * time.Second)
	case "MeterValuesSampledData":
	case "NumberOfConnectors":
		return core.NewChangeConfigurationConfirmation(core.ConfigurationStatusRejected), nil // read-only
	default:
		return core.NewChangeConfigurationConfirmation(core.ConfigurationStatusNotSupported), nil
	}
	return core.NewChangeConfigurationConfirmation(core.ConfigurationStatusAccepted), nil
}

func (h *handler16) OnGetConfiguration(r *core.GetConfigurationRequest) (*core.GetConfigurationConfirmation, error) {
	iv := strconv.Itoa(int(h.c.meterInterval().Seconds()))
	all := map[string]string{"MeterValueSampleInterval": iv, "NumberOfConnectors": strconv.Itoa(h.c.cfg.Connectors)}
	var keys []core.ConfigurationKey
	var unknown []string
	want := r.Key
	if len(want) == 0 {
		want = []string{"MeterValueSampleInterval", "NumberOfConnectors"}
	}
	for _, k := range want {
		if v, ok := all[k]; ok {
			keys = append(keys, core.ConfigurationKey{Key: k, Readonly: k == "NumberOfConnectors", Value: &v})
		} else {
			unknown = append(unknown, k)
		}
	}
	conf := core.NewGetConfigurationConfirmation(keys)
	conf.UnknownKey = unknown
	return conf, nil
}

func (h *handler16) OnClearCache(*core.ClearCacheRequest) (*core.ClearCacheConfirmation, error) {
	return core.NewClearCacheConfirmation(core.ClearCacheStatusAccepted), nil
}

func (h *handler16) OnDataTransfer(*core.DataTransferRequest) (*core.DataTransferConfirmation, error) {
	return core.NewDataTransferConfirmation(core.DataTransferStatusUnknownVendorId), nil
}

// OnRemoteStartTransaction plugs a default car, as if the driver had
// already connected the cable.
func (h *handler16) OnRemoteStartTransaction(r *core.RemoteStartTransactionRequest) (*core.RemoteStartTransactionConfirmation, error) {
	n := 1
	if r.ConnectorId != nil {
		n = *r.ConnectorId
	}
	if _, err := h.c.remoteStart(n, r.IdTag); err != nil {
		return core.NewRemoteStartTransactionConfirmation(types.RemoteStartStopStatusRejected), nil
	}
	return core.NewRemoteStartTransactionConfirmation(types.RemoteStartStopStatusAccepted), nil
}

func (h *handler16) OnRemoteStopTransaction(r *core.RemoteStopTransactionRequest) (*core.RemoteStopTransactionConfirmation, error) {
	if !h.c.remoteStop(strconv.Itoa(r.TransactionId)) {
		return core.NewRemoteStopTransactionConfirmation(types.RemoteStartStopStatusRejected), nil
	}
	return core.NewRemoteStopTransactionConfirmation(types.RemoteStartStopStatusAccepted), nil
}

func (h *handler16) OnReset(r *core.ResetRequest) (*core.ResetConfirmation, error) {
	reason := core.ReasonSoftReset
	if r.Type == core.ResetTypeHard {
		reason = core.ReasonHardReset
	}
	h.c.reset(string(reason))
	return core.NewResetConfirmation(core.ResetStatusAccepted), nil
}

func (h *handler16) OnUnlockConnector(r *core.UnlockConnectorRequest) (*core.UnlockConnectorConfirmation, error) {
	if known, _ := h.c.unlock(r.ConnectorId, false); !known {
		return core.NewUnlockConnectorConfirmation(core.UnlockStatusNotSupported), nil
	}
	return core.NewUnlockConnectorConfirmation(core.UnlockStatusUnlocked), nil
}

func (h *handler16) OnTriggerMessage(r *remotetrigger.TriggerMessageRequest) (*remotetrigger.TriggerMessageConfirmation, error) {
	n := 0
	if r.ConnectorId != nil {
		n = *r.ConnectorId
	}
	if !h.c.trigger(string(r.RequestedMessage), n) {
		return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusNotImplemented), nil
	}
	return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusAccepted), nil
}
