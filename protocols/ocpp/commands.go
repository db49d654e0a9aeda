package ocpp

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/availability"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/provisioning"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/remotecontrol"
	types201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
)

// Commands for operators and rules. Each blocks until the charger answers
// and returns the charger's status word (Accepted, Rejected, ...), whichever
// OCPP version the charger speaks.

// RemoteStart asks the charger to start a session for idTag on connector.
func (s *Service) RemoteStart(ctx context.Context, chargerID string, connector int, idTag string) (string, error) {
	r16 := core.NewRemoteStartTransactionRequest(idTag)
	if connector > 0 {
		r16.ConnectorId = &connector
	}
	r201 := remotecontrol.NewRequestStartTransactionRequest(int(s.stats.next()), types201.IdToken{IdToken: idTag, Type: types201.IdTokenTypeISO14443})
	if connector > 0 {
		r201.EvseID = &connector
	}
	return s.statusOf(s.call(ctx, chargerID, r16, r201))
}

// RemoteStop asks the charger to stop a session.
func (s *Service) RemoteStop(ctx context.Context, chargerID, transactionID string) (string, error) {
	var r16 ocpp.Request
	if n, err := strconv.Atoi(transactionID); err == nil {
		r16 = core.NewRemoteStopTransactionRequest(n)
	}
	return s.statusOf(s.call(ctx, chargerID, r16, remotecontrol.NewRequestStopTransactionRequest(transactionID)))
}

// ChangeAvailability makes a connector (0: the whole charger) operative or not.
func (s *Service) ChangeAvailability(ctx context.Context, chargerID string, connector int, operative bool) (string, error) {
	t16, t201 := core.AvailabilityTypeOperative, availability.OperationalStatusOperative
	if !operative {
		t16, t201 = core.AvailabilityTypeInoperative, availability.OperationalStatusInoperative
	}
	r201 := availability.NewChangeAvailabilityRequest(t201)
	if connector > 0 {
		r201.Evse = &types201.EVSE{ID: connector}
	}
	return s.statusOf(s.call(ctx, chargerID, core.NewChangeAvailabilityRequest(connector, t16), r201))
}

// ChangeConfiguration sets one key. For 2.0.1 chargers the key is
// "Component.Variable" (e.g. SampledDataCtrlr.TxUpdatedInterval).
func (s *Service) ChangeConfiguration(ctx context.Context, chargerID, key, value string) (string, error) {
	comp, variable, _ := strings.Cut(key, ".")
	r201 := provisioning.NewSetVariablesRequest([]provisioning.SetVariableData{{
		AttributeValue: value, Component: types201.Component{Name: comp}, Variable: types201.Variable{Name: variable},
	}})
	return s.statusOf(s.call(ctx, chargerID, core.NewChangeConfigurationRequest(key, value), r201))
}

// GetConfiguration reads keys (all of them when keys is empty, 1.6 only).
func (s *Service) GetConfiguration(ctx context.Context, chargerID string, keys []string) (map[string]string, error) {
	var data []provisioning.GetVariableData
	for _, k := range keys {
		comp, variable, _ := strings.Cut(k, ".")
		data = append(data, provisioning.GetVariableData{Component: types201.Component{Name: comp}, Variable: types201.Variable{Name: variable}})
	}
	var r201 ocpp.Request
	if len(data) > 0 {
		r201 = provisioning.NewGetVariablesRequest(data)
	}
	resp, err := s.call(ctx, chargerID, core.NewGetConfigurationRequest(keys), r201)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	switch r := resp.(type) {
	case *core.GetConfigurationConfirmation:
		for _, kv := range r.ConfigurationKey {
			if kv.Value != nil {
				out[kv.Key] = *kv.Value
			}
		}
	case *provisioning.GetVariablesResponse:
		for _, v := range r.GetVariableResult {
			if v.AttributeStatus == provisioning.GetVariableStatusAccepted {
				out[v.Component.Name+"."+v.Variable.Name] = v.AttributeValue
			}
		}
	}
	return out, nil
}

// Trigger asks the charger to send a message now (StatusNotification,
// MeterValues, Heartbeat, BootNotification; 2.0.1 also TransactionEvent).
func (s *Service) Trigger(ctx context.Context, chargerID string, connector int, message string) (string, error) {
	r16 := remotetrigger.NewTriggerMessageRequest(remotetrigger.MessageTrigger(message))
	r201 := remotecontrol.NewTriggerMessageRequest(remotecontrol.MessageTrigger(message))
	if connector > 0 {
		r16.ConnectorId = &connector
		r201.Evse = &types201.EVSE{ID: connector}
		if message == string(remotecontrol.MessageTriggerStatusNotification) {
			// 2.0.1 sends StatusNotification per connector only (F06.FR.13);
			// the office's EVSEs have one connector each.
			r201.Evse.ConnectorID = intp(1)
		}
	}
	return s.statusOf(s.call(ctx, chargerID, r16, r201))
}

// Reset restarts the charger: hard (1.6 Hard / 2.0.1 Immediate) or soft.
func (s *Service) Reset(ctx context.Context, chargerID string, hard bool) (string, error) {
	t16, t201 := core.ResetTypeSoft, provisioning.ResetTypeOnIdle
	if hard {
		t16, t201 = core.ResetTypeHard, provisioning.ResetTypeImmediate
	}
	return s.statusOf(s.call(ctx, chargerID, core.NewResetRequest(t16), provisioning.NewResetRequest(t201)))
}

// Unlock releases the cable on a connector.
func (s *Service) Unlock(ctx context.Context, chargerID string, connector int) (string, error) {
	return s.statusOf(s.call(ctx, chargerID, core.NewUnlockConnectorRequest(connector), remotecontrol.NewUnlockConnectorRequest(connector, 1)))
}

// statusOf pulls the status word out of any answer.
func (s *Service) statusOf(resp ocpp.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	switch r := resp.(type) {
	case *core.RemoteStartTransactionConfirmation:
		return string(r.Status), nil
	case *core.RemoteStopTransactionConfirmation:
		return string(r.Status), nil
	case *core.ChangeAvailabilityConfirmation:
		return string(r.Status), nil
	case *core.ChangeConfigurationConfirmation:
		return string(r.Status), nil
	case *remotetrigger.TriggerMessageConfirmation:
		return string(r.Status), nil
	case *core.ResetConfirmation:
		return string(r.Status), nil
	case *core.UnlockConnectorConfirmation:
		return string(r.Status), nil
	case *remotecontrol.RequestStartTransactionResponse:
		return string(r.Status), nil
	case *remotecontrol.RequestStopTransactionResponse:
		return string(r.Status), nil
	case *availability.ChangeAvailabilityResponse:
		return string(r.Status), nil
	case *provisioning.SetVariablesResponse:
		if len(r.SetVariableResult) > 0 {
			return string(r.SetVariableResult[0].AttributeStatus), nil
		}
	case *remotecontrol.TriggerMessageResponse:
		return string(r.Status), nil
	case *provisioning.ResetResponse:
		return string(r.Status), nil
	case *remotecontrol.UnlockConnectorResponse:
		return string(r.Status), nil
	}
	return "", fmt.Errorf("unexpected answer %T", resp)
}
