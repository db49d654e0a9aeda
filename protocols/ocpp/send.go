package ocpp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	sc201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocppj"
)

// The operator interface (edge HTTP routes, the fleet's remote commands)
// sends any call the central system may send, by its OCPP action name and
// JSON payload, and gets the charger's JSON answer. The payload is decoded
// into the library's request type and checked with the library's validator
// (the constraints of the official JSON schema) before it leaves; the answer
// is checked the same way when it arrives.

// Actions16 and Actions201 are the calls an operator may send, per version.
var (
	Actions16 = []string{
		"RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
		"GetConfiguration", "ChangeConfiguration", "TriggerMessage", "SetChargingProfile", "ClearChargingProfile",
		"GetCompositeSchedule", "ReserveNow", "CancelReservation", "SendLocalList", "GetLocalListVersion",
		"ClearCache", "DataTransfer",
	}
	Actions201 = []string{
		"RequestStartTransaction", "RequestStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
		"GetVariables", "SetVariables", "GetBaseReport", "GetReport", "TriggerMessage", "SetChargingProfile",
		"GetChargingProfiles", "ClearChargingProfile", "GetCompositeSchedule", "GetTransactionStatus",
		"ReserveNow", "CancelReservation", "SendLocalList", "GetLocalListVersion", "ClearCache", "DataTransfer",
	}
)

// Errors of Send besides those of a call (ErrNotConnected, ErrTimeout,
// *CallError).
var (
	ErrUnknownAction = errors.New("action not available for this charger's OCPP version")
	ErrBadPayload    = errors.New("payload does not match the action's schema")
)

// SendResult is the charger's answer to Send.
type SendResult struct {
	Charger  string          `json:"charger"`
	Version  string          `json:"version"`
	Action   string          `json:"action"`
	Response json.RawMessage `json:"response"`
	// Reports: for 2.0.1 GetChargingProfiles, the ReportChargingProfiles
	// the charger sent for this request (reports.go).
	Reports *ProfileReports `json:"reports,omitempty"`
}

// Send sends action with payload to a connected charger and waits for the
// answer (command_timeout).
func (s *Service) Send(ctx context.Context, chargerID, action string, payload json.RawMessage) (SendResult, error) {
	res := SendResult{Charger: chargerID, Action: action}
	conn := s.front.lookup(chargerID)
	if conn == nil {
		return res, fmt.Errorf("%s to %s: %w", action, chargerID, ErrNotConnected)
	}
	res.Version = conn.stack.proto
	actions, profiles := Actions16, profiles16()
	if res.Version == subproto201 {
		actions, profiles = Actions201, profiles201()
	}
	if !slices.Contains(actions, action) {
		return res, fmt.Errorf("%s on %s (%s): %w", action, chargerID, res.Version, ErrUnknownAction)
	}
	req, err := decodeRequest(profiles, action, payload)
	if err != nil {
		return res, err
	}
	if gp, ok := req.(*sc201.GetChargingProfilesRequest); ok {
		resp, reports, err := s.getChargingProfiles(ctx, chargerID, gp)
		if err != nil {
			return res, err
		}
		res.Reports = reports
		res.Response, err = json.Marshal(resp)
		return res, err
	}
	var r16, r201 ocpp.Request
	if res.Version == subproto201 {
		r201 = req
	} else {
		r16 = req
	}
	resp, err := s.call(ctx, chargerID, r16, r201)
	if err != nil {
		return res, err
	}
	s.trackProfiles(chargerID, r16, r201, resp)
	var body any = resp
	if r, ok := resp.(*sc201.GetCompositeScheduleResponse); ok {
		body = officialComposite201(r, req.(*sc201.GetCompositeScheduleRequest).EvseID) // the library's own shape is not the schema's
	}
	res.Response, err = json.Marshal(body)
	return res, err
}

func decodeRequest(profiles []*ocpp.Profile, action string, payload json.RawMessage) (ocpp.Request, error) {
	for _, p := range profiles {
		f := p.GetFeature(action)
		if f == nil {
			continue
		}
		v := reflect.New(f.GetRequestType())
		if len(bytes.TrimSpace(payload)) == 0 {
			payload = json.RawMessage("{}")
		}
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields() // the schemas forbid additional properties
		if err := dec.Decode(v.Interface()); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", action, ErrBadPayload, err)
		}
		if err := ocppj.Validate.Struct(v.Interface()); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", action, ErrBadPayload, err)
		}
		req, ok := v.Interface().(ocpp.Request)
		if !ok {
			return nil, fmt.Errorf("%s: %w", action, ErrUnknownAction)
		}
		return req, nil
	}
	return nil, fmt.Errorf("%s: %w", action, ErrUnknownAction)
}
