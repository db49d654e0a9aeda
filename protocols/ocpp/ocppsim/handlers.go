package ocppsim

import (
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
)

// handler answers the central system's requests like a real charger would.
type handler struct{ c *ChargePoint }

func (h *handler) OnSetChargingProfile(r *smartcharging.SetChargingProfileRequest) (*smartcharging.SetChargingProfileConfirmation, error) {
	if h.c.cfg.Misbehave.RejectProfiles {
		return smartcharging.NewSetChargingProfileConfirmation(smartcharging.ChargingProfileStatusRejected), nil
	}
	p := r.ChargingProfile
	if p == nil || p.ChargingSchedule == nil || len(p.ChargingSchedule.ChargingSchedulePeriod) == 0 {
		return smartcharging.NewSetChargingProfileConfirmation(smartcharging.ChargingProfileStatusRejected), nil
	}
	period := p.ChargingSchedule.ChargingSchedulePeriod[0]
	l := limit{unit: string(p.ChargingSchedule.ChargingRateUnit), value: period.Limit}
	if period.NumberPhases != nil {
		l.phases = *period.NumberPhases
	}
	// The charger answers at once; the car follows a little later, as the
	// pilot signal change takes effect.
	time.AfterFunc(h.c.cfg.ProfileDelay, func() {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		for _, cn := range h.c.conns[1:] {
			if r.ConnectorId == 0 || r.ConnectorId == cn.id {
				cn.limit = l
			}
		}
	})
	return smartcharging.NewSetChargingProfileConfirmation(smartcharging.ChargingProfileStatusAccepted), nil
}

func (h *handler) OnClearChargingProfile(r *smartcharging.ClearChargingProfileRequest) (*smartcharging.ClearChargingProfileConfirmation, error) {
	h.c.mu.Lock()
	for _, cn := range h.c.conns[1:] {
		if r.ConnectorId == nil || *r.ConnectorId == 0 || *r.ConnectorId == cn.id {
			cn.limit = limit{}
		}
	}
	h.c.mu.Unlock()
	return smartcharging.NewClearChargingProfileConfirmation(smartcharging.ClearChargingProfileStatusAccepted), nil
}

func (h *handler) OnGetCompositeSchedule(*smartcharging.GetCompositeScheduleRequest) (*smartcharging.GetCompositeScheduleConfirmation, error) {
	return smartcharging.NewGetCompositeScheduleConfirmation(smartcharging.GetCompositeScheduleStatusRejected), nil
}

func (h *handler) OnChangeAvailability(r *core.ChangeAvailabilityRequest) (*core.ChangeAvailabilityConfirmation, error) {
	h.c.mu.Lock()
	var changed []int
	for _, cn := range h.c.conns[1:] {
		if (r.ConnectorId == 0 || r.ConnectorId == cn.id) && cn.session == nil {
			cn.status = core.ChargePointStatusAvailable
			if r.Type == core.AvailabilityTypeInoperative {
				cn.status = core.ChargePointStatusUnavailable
			}
			changed = append(changed, cn.id)
		}
	}
	h.c.mu.Unlock()
	for _, n := range changed {
		h.c.enqueueStatus(n)
	}
	return core.NewChangeAvailabilityConfirmation(core.AvailabilityStatusAccepted), nil
}

func (h *handler) OnChangeConfiguration(r *core.ChangeConfigurationRequest) (*core.ChangeConfigurationConfirmation, error) {
	switch r.Key {
	case "MeterValueSampleInterval":
		sec, err := strconv.Atoi(r.Value)
		if err != nil || sec < 1 {
			return core.NewChangeConfigurationConfirmation(core.ConfigurationStatusRejected), nil
		}
		h.c.mu.Lock()
		h.c.interval = time.Duration(sec) * time.Second
		h.c.mu.Unlock()
	case "MeterValuesSampledData":
	default:
		return core.NewChangeConfigurationConfirmation(core.ConfigurationStatusNotSupported), nil
	}
	return core.NewChangeConfigurationConfirmation(core.ConfigurationStatusAccepted), nil
}

func (h *handler) OnGetConfiguration(r *core.GetConfigurationRequest) (*core.GetConfigurationConfirmation, error) {
	h.c.mu.Lock()
	iv := strconv.Itoa(int(h.c.interval.Seconds()))
	h.c.mu.Unlock()
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

func (h *handler) OnClearCache(*core.ClearCacheRequest) (*core.ClearCacheConfirmation, error) {
	return core.NewClearCacheConfirmation(core.ClearCacheStatusAccepted), nil
}

func (h *handler) OnDataTransfer(*core.DataTransferRequest) (*core.DataTransferConfirmation, error) {
	return core.NewDataTransferConfirmation(core.DataTransferStatusUnknownVendorId), nil
}

// OnRemoteStartTransaction plugs a default car, as if the driver had
// already connected the cable.
func (h *handler) OnRemoteStartTransaction(r *core.RemoteStartTransactionRequest) (*core.RemoteStartTransactionConfirmation, error) {
	n := 1
	if r.ConnectorId != nil {
		n = *r.ConnectorId
	}
	car := Car{IdTag: r.IdTag, BatteryWh: 60000, SoCPct: 20, MaxCurrentA: 16, Phases: 3}
	if err := h.c.Plug(n, car); err != nil {
		return core.NewRemoteStartTransactionConfirmation(types.RemoteStartStopStatusRejected), nil
	}
	return core.NewRemoteStartTransactionConfirmation(types.RemoteStartStopStatusAccepted), nil
}

func (h *handler) OnRemoteStopTransaction(r *core.RemoteStopTransactionRequest) (*core.RemoteStopTransactionConfirmation, error) {
	h.c.mu.Lock()
	found := 0
	for _, cn := range h.c.conns[1:] {
		if cn.session != nil && cn.session.txID == r.TransactionId {
			found = cn.id
		}
	}
	h.c.mu.Unlock()
	if found == 0 {
		return core.NewRemoteStopTransactionConfirmation(types.RemoteStartStopStatusRejected), nil
	}
	go func() { _ = h.c.Unplug(found, core.ReasonRemote) }()
	return core.NewRemoteStopTransactionConfirmation(types.RemoteStartStopStatusAccepted), nil
}

func (h *handler) OnReset(*core.ResetRequest) (*core.ResetConfirmation, error) {
	return core.NewResetConfirmation(core.ResetStatusAccepted), nil
}

func (h *handler) OnUnlockConnector(r *core.UnlockConnectorRequest) (*core.UnlockConnectorConfirmation, error) {
	if _, err := h.c.conn(r.ConnectorId); err != nil {
		return core.NewUnlockConnectorConfirmation(core.UnlockStatusNotSupported), nil
	}
	return core.NewUnlockConnectorConfirmation(core.UnlockStatusUnlocked), nil
}

func (h *handler) OnTriggerMessage(r *remotetrigger.TriggerMessageRequest) (*remotetrigger.TriggerMessageConfirmation, error) {
	switch r.RequestedMessage {
	case core.StatusNotificationFeatureName:
		for i := 1; i <= h.c.cfg.Connectors; i++ {
			if r.ConnectorId == nil || *r.ConnectorId == i {
				h.c.enqueueStatus(i)
			}
		}
	case core.MeterValuesFeatureName:
		h.c.enqueueMeterValues(time.Now())
	case core.HeartbeatFeatureName:
		h.c.enqueue(func() error { _, err := h.c.cp.Heartbeat(); return err })
	default:
		return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusNotImplemented), nil
	}
	return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusAccepted), nil
}
