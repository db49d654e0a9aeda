package ocppsim

import (
	"strconv"
	"strings"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/authorization"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/availability"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/data"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/provisioning"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/remotecontrol"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
)

// handler201 answers the CSMS's 2.0.1 requests like a real station.
type handler201 struct{ c *ChargePoint }

// The device model the simulator exposes through Get/SetVariables.
const (
	compSampled   = "SampledDataCtrlr"
	varTxInterval = "TxUpdatedInterval"
	varTxMeasured = "TxUpdatedMeasurands"
	compStation   = "ChargingStation"
	varEVSECount  = "EVSECount" // read-only
)

func (h *handler201) OnGetVariables(r *provisioning.GetVariablesRequest) (*provisioning.GetVariablesResponse, error) {
	out := make([]provisioning.GetVariableResult, 0, len(r.GetVariableData))
	for _, d := range r.GetVariableData {
		res := provisioning.GetVariableResult{Component: d.Component, Variable: d.Variable, AttributeStatus: provisioning.GetVariableStatusAccepted}
		switch key := d.Component.Name + "." + d.Variable.Name; {
		case strings.EqualFold(key, compSampled+"."+varTxInterval):
			res.AttributeValue = strconv.Itoa(int(h.c.meterInterval().Seconds()))
		case strings.EqualFold(key, compSampled+"."+varTxMeasured):
			res.AttributeValue = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Current.Offered,SoC"
		case strings.EqualFold(key, compStation+"."+varEVSECount):
			res.AttributeValue = strconv.Itoa(h.c.cfg.Connectors)
		case !strings.EqualFold(d.Component.Name, compSampled) && !strings.EqualFold(d.Component.Name, compStation):
			res.AttributeStatus = provisioning.GetVariableStatusUnknownComponent
		default:
			res.AttributeStatus = provisioning.GetVariableStatusUnknownVariable
		}
		out = append(out, res)
	}
	return provisioning.NewGetVariablesResponse(out), nil
}

func (h *handler201) OnSetVariables(r *provisioning.SetVariablesRequest) (*provisioning.SetVariablesResponse, error) {
	out := make([]provisioning.SetVariableResult, 0, len(r.SetVariableData))
	for _, d := range r.SetVariableData {
		res := provisioning.SetVariableResult{Component: d.Component, Variable: d.Variable, AttributeStatus: provisioning.SetVariableStatusAccepted}
		switch key := d.Component.Name + "." + d.Variable.Name; {
		case strings.EqualFold(key, compSampled+"."+varTxInterval):
			sec, err := strconv.Atoi(d.AttributeValue)
			if err != nil || sec < 1 {
				res.AttributeStatus = provisioning.SetVariableStatusRejected
				break
			}
			h.c.setInterval(time.Duration(sec) * time.Second)
		case strings.EqualFold(key, compSampled+"."+varTxMeasured):
		case strings.EqualFold(key, compStation+"."+varEVSECount):
			res.AttributeStatus = provisioning.SetVariableStatusRejected // read-only
		case !strings.EqualFold(d.Component.Name, compSampled) && !strings.EqualFold(d.Component.Name, compStation):
			res.AttributeStatus = provisioning.SetVariableStatusUnknownComponent
		default:
			res.AttributeStatus = provisioning.SetVariableStatusUnknownVariable
		}
		out = append(out, res)
	}
	return provisioning.NewSetVariablesResponse(out), nil
}

func (h *handler201) OnGetBaseReport(*provisioning.GetBaseReportRequest) (*provisioning.GetBaseReportResponse, error) {
	return provisioning.NewGetBaseReportResponse(types.GenericDeviceModelStatusNotSupported), nil
}

func (h *handler201) OnGetReport(*provisioning.GetReportRequest) (*provisioning.GetReportResponse, error) {
	return provisioning.NewGetReportResponse(types.GenericDeviceModelStatusNotSupported), nil
}

func (h *handler201) OnSetNetworkProfile(*provisioning.SetNetworkProfileRequest) (*provisioning.SetNetworkProfileResponse, error) {
	return provisioning.NewSetNetworkProfileResponse(provisioning.SetNetworkProfileStatusRejected), nil
}

// OnReset: Immediate stops running transactions and reboots; OnIdle with a
// transaction running is Scheduled, and this simulator then keeps charging.
func (h *handler201) OnReset(r *provisioning.ResetRequest) (*provisioning.ResetResponse, error) {
	if r.Type == provisioning.ResetTypeOnIdle && h.c.busy() {
		return provisioning.NewResetResponse(provisioning.ResetStatusScheduled), nil
	}
	h.c.reset("ImmediateReset")
	return provisioning.NewResetResponse(provisioning.ResetStatusAccepted), nil
}

func (h *handler201) OnChangeAvailability(r *availability.ChangeAvailabilityRequest) (*availability.ChangeAvailabilityResponse, error) {
	n := 0
	if r.Evse != nil {
		n = r.Evse.ID
	}
	known, scheduled := h.c.setAvailability(n, r.OperationalStatus == availability.OperationalStatusOperative)
	switch {
	case !known:
		return availability.NewChangeAvailabilityResponse(availability.ChangeAvailabilityStatusRejected), nil
	case scheduled:
		return availability.NewChangeAvailabilityResponse(availability.ChangeAvailabilityStatusScheduled), nil
	}
	return availability.NewChangeAvailabilityResponse(availability.ChangeAvailabilityStatusAccepted), nil
}

func (h *handler201) OnRequestStartTransaction(r *remotecontrol.RequestStartTransactionRequest) (*remotecontrol.RequestStartTransactionResponse, error) {
	n := 1
	if r.EvseID != nil {
		n = *r.EvseID
	}
	ss, err := h.c.remoteStart(n, r.IDToken.IdToken)
	if err != nil {
		return remotecontrol.NewRequestStartTransactionResponse(remotecontrol.RequestStartStopStatusRejected), nil
	}
	resp := remotecontrol.NewRequestStartTransactionResponse(remotecontrol.RequestStartStopStatusAccepted)
	resp.TransactionID = h.c.txID(ss)
	return resp, nil
}

func (h *handler201) OnRequestStopTransaction(r *remotecontrol.RequestStopTransactionRequest) (*remotecontrol.RequestStopTransactionResponse, error) {
	if !h.c.remoteStop(r.TransactionID) {
		return remotecontrol.NewRequestStopTransactionResponse(remotecontrol.RequestStartStopStatusRejected), nil
	}
	return remotecontrol.NewRequestStopTransactionResponse(remotecontrol.RequestStartStopStatusAccepted), nil
}

func (h *handler201) OnTriggerMessage(r *remotecontrol.TriggerMessageRequest) (*remotecontrol.TriggerMessageResponse, error) {
	n := 0
	if r.Evse != nil {
		n = r.Evse.ID
	}
	msg := string(r.RequestedMessage)
	if msg == string(remotecontrol.MessageTriggerTransactionEvent) {
		h.c.enqueueMeterValuesOn(n, time.Now(), false) // an Updated event per running transaction
	} else if !h.c.trigger(msg, n) {
		return remotecontrol.NewTriggerMessageResponse(remotecontrol.TriggerMessageStatusNotImplemented), nil
	}
	return remotecontrol.NewTriggerMessageResponse(remotecontrol.TriggerMessageStatusAccepted), nil
}

func (h *handler201) OnUnlockConnector(r *remotecontrol.UnlockConnectorRequest) (*remotecontrol.UnlockConnectorResponse, error) {
	known, refused := h.c.unlock(r.EvseID, true)
	switch {
	case !known || r.ConnectorID != 1:
		return remotecontrol.NewUnlockConnectorResponse(remotecontrol.UnlockStatusUnknownConnector), nil
	case refused:
		return remotecontrol.NewUnlockConnectorResponse(remotecontrol.UnlockStatusOngoingAuthorizedTransaction), nil
	}
	return remotecontrol.NewUnlockConnectorResponse(remotecontrol.UnlockStatusUnlocked), nil
}

func (h *handler201) OnSetChargingProfile(r *smartcharging.SetChargingProfileRequest) (*smartcharging.SetChargingProfileResponse, error) {
	p := r.ChargingProfile
	rejected := smartcharging.NewSetChargingProfileResponse(smartcharging.ChargingProfileStatusRejected)
	if h.c.cfg.Misbehave.RejectProfiles || p == nil || len(p.ChargingSchedule) == 0 || len(p.ChargingSchedule[0].ChargingSchedulePeriod) == 0 {
		return rejected, nil
	}
	purpose := string(p.ChargingProfilePurpose)
	if purpose == "ChargingStationMaxProfile" {
		purpose = purposeMax
	}
	if !h.c.profileTarget(purpose, r.EvseID) {
		return rejected, nil
	}
	sched := p.ChargingSchedule[0]
	period := sched.ChargingSchedulePeriod[0]
	l := limit{unit: string(sched.ChargingRateUnit), value: period.Limit}
	if period.NumberPhases != nil {
		l.phases = *period.NumberPhases
	}
	h.c.installProfile(profile{id: p.ID, connector: r.EvseID, stack: p.StackLevel, purpose: purpose, txID: p.TransactionID, lim: l})
	return smartcharging.NewSetChargingProfileResponse(smartcharging.ChargingProfileStatusAccepted), nil
}

func (h *handler201) OnClearChargingProfile(r *smartcharging.ClearChargingProfileRequest) (*smartcharging.ClearChargingProfileResponse, error) {
	var evse, stack *int
	purpose := ""
	if c := r.ChargingProfileCriteria; c != nil {
		evse, stack, purpose = c.EvseID, c.StackLevel, string(c.ChargingProfilePurpose)
		if purpose == "ChargingStationMaxProfile" {
			purpose = purposeMax
		}
	}
	if h.c.clearProfiles(r.ChargingProfileID, evse, purpose, stack) == 0 {
		return smartcharging.NewClearChargingProfileResponse(smartcharging.ClearChargingProfileStatusUnknown), nil
	}
	return smartcharging.NewClearChargingProfileResponse(smartcharging.ClearChargingProfileStatusAccepted), nil
}

func (h *handler201) OnGetChargingProfiles(*smartcharging.GetChargingProfilesRequest) (*smartcharging.GetChargingProfilesResponse, error) {
	return smartcharging.NewGetChargingProfilesResponse(smartcharging.GetChargingProfileStatusNoProfiles), nil
}

func (h *handler201) OnGetCompositeSchedule(r *smartcharging.GetCompositeScheduleRequest) (*smartcharging.GetCompositeScheduleResponse, error) {
	unit := string(r.ChargingRateUnit)
	if unit == "" {
		unit = "A"
	}
	v, ok := h.c.composite(r.EvseID, unit)
	if !ok {
		return smartcharging.NewGetCompositeScheduleResponse(smartcharging.GetCompositeScheduleStatusRejected, r.EvseID), nil
	}
	now := types.NewDateTime(time.Now().Truncate(time.Second))
	sched := types.NewChargingSchedule(0, types.ChargingRateUnitType(unit), types.NewChargingSchedulePeriod(0, v))
	sched.Duration, sched.StartSchedule = &r.Duration, now
	resp := smartcharging.NewGetCompositeScheduleResponse(smartcharging.GetCompositeScheduleStatusAccepted, r.EvseID)
	resp.Schedule = &smartcharging.CompositeSchedule{StartDateTime: now, ChargingSchedule: sched}
	return resp, nil
}

func (h *handler201) OnDataTransfer(*data.DataTransferRequest) (*data.DataTransferResponse, error) {
	return data.NewDataTransferResponse(data.DataTransferStatusUnknownVendorId), nil
}

func (h *handler201) OnClearCache(*authorization.ClearCacheRequest) (*authorization.ClearCacheResponse, error) {
	return authorization.NewClearCacheResponse(authorization.ClearCacheStatusAccepted), nil
}
