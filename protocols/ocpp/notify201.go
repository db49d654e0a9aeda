package ocpp

import (
	"fmt"
	"strings"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/firmware"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/availability"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/diagnostics"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/display"
	fw201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/firmware"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/iso15118"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/reservation"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/security"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
	"github.com/polis-edge/polis/protocols/sample"
)

// Every message a 2.0.1 station may send gets its defined response, never
// NotImplemented; what is useful is recorded (health, events, the session's
// charging needs), the rest is counted. Firmware, logs, ISO 15118
// certificates and display messages are out of scope (docs/ocpp.md): they
// are answered, not acted on.

// recordEvents commits events through the outbox (outbox.go).
func (s *Service) recordEvents(id string, events ...sample.Sample) error {
	if len(events) == 0 {
		return nil
	}
	var q queued
	err := s.do(id, func(c *charger) error {
		var err error
		q, err = s.store.commit(c, nil, events)
		return err
	})
	if err != nil {
		return err
	}
	s.deliver(q)
	return nil
}

// OnNotifyEvent turns the device model events that matter into state and
// events: a connector's AvailabilityState (plug/unplug) into its status,
// Problem/Fault/Tamper variables into events and the charger's health.
func (h handler201) OnNotifyEvent(id string, r *diagnostics.NotifyEventRequest) (*diagnostics.NotifyEventResponse, error) {
	h.s.stats.inc(id, "notify_event")
	var events []sample.Sample
	for _, e := range r.EventData {
		at := when201(e.Timestamp)
		evse := -1
		if e.Component.EVSE != nil {
			evse = e.Component.EVSE.ID
		}
		v := strings.ToLower(e.Variable.Name)
		switch {
		case e.Variable.Name == "AvailabilityState" && evse > 0:
			if err := h.s.status(id, evse, h.s.connectorStatus201(id, evse, availability.ConnectorStatus(e.ActualValue)), "", at); err != nil {
				return nil, err
			}
		case strings.Contains(v, "tamper") || strings.Contains(v, "problem") || strings.Contains(v, "fault"):
			active := !e.Cleared && !strings.EqualFold(e.ActualValue, "false")
			kind, sev := "charger_problem", sample.SeverityWarning
			if strings.Contains(v, "tamper") {
				kind, sev = "charger_tamper", sample.SeverityCritical
			}
			if !active {
				kind, sev = kind+"_cleared", sample.SeverityInfo
			}
			key := fmt.Sprintf("%d/%s", e.EventID, at.Format(time.RFC3339Nano))
			events = append(events, event(id, max(evse, -1), kind, sev,
				fmt.Sprintf("charger %s %s.%s = %s %s", id, e.Component.Name, e.Variable.Name, e.ActualValue, e.TechInfo), at,
				map[string]any{"component": e.Component.Name, "variable": e.Variable.Name, "value": e.ActualValue, "tech_code": e.TechCode}, key))
			h.s.setProblem(id, e.Component.Name+"."+e.Variable.Name, active, e.TechInfo)
		}
	}
	if err := h.s.recordEvents(id, events...); err != nil {
		return nil, err
	}
	return diagnostics.NewNotifyEventResponse(), nil
}

// setProblem keeps the charger's active problems for its health.
func (s *Service) setProblem(id, what string, active bool, info string) {
	_ = s.do(id, func(c *charger) error {
		if c.problems == nil {
			c.problems = map[string]string{}
		}
		if active {
			c.problems[what] = info
		} else {
			delete(c.problems, what)
		}
		return nil
	})
}

func (h handler201) OnNotifyMonitoringReport(id string, _ *diagnostics.NotifyMonitoringReportRequest) (*diagnostics.NotifyMonitoringReportResponse, error) {
	h.s.stats.inc(id, "notify_monitoring_report")
	return diagnostics.NewNotifyMonitoringReportResponse(), nil
}

func (h handler201) OnLogStatusNotification(id string, r *diagnostics.LogStatusNotificationRequest) (*diagnostics.LogStatusNotificationResponse, error) {
	h.s.stats.inc(id, "log_status_"+string(r.Status))
	return diagnostics.NewLogStatusNotificationResponse(), nil
}

func (h handler201) OnNotifyCustomerInformation(id string, _ *diagnostics.NotifyCustomerInformationRequest) (*diagnostics.NotifyCustomerInformationResponse, error) {
	h.s.stats.inc(id, "notify_customer_information")
	return diagnostics.NewNotifyCustomerInformationResponse(), nil
}

// OnNotifyChargingLimit: an external limit (K11-K14: an energy management
// system, the grid operator) now applies; the rules must know their limit is
// not the only one.
func (h handler201) OnNotifyChargingLimit(id string, r *smartcharging.NotifyChargingLimitRequest) (*smartcharging.NotifyChargingLimitResponse, error) {
	evse := -1
	if r.EvseID != nil {
		evse = *r.EvseID
	}
	now := time.Now()
	grid := r.ChargingLimit.IsGridCritical != nil && *r.ChargingLimit.IsGridCritical
	err := h.s.recordEvents(id, event(id, evse, "external_limit", sample.SeverityInfo,
		fmt.Sprintf("charger %s: external charging limit from %s", id, r.ChargingLimit.ChargingLimitSource), now,
		map[string]any{"source": string(r.ChargingLimit.ChargingLimitSource), "grid_critical": grid}, now.Format(time.RFC3339Nano)))
	if err != nil {
		return nil, err
	}
	return smartcharging.NewNotifyChargingLimitResponse(), nil
}

func (h handler201) OnClearedChargingLimit(id string, r *smartcharging.ClearedChargingLimitRequest) (*smartcharging.ClearedChargingLimitResponse, error) {
	evse := -1
	if r.EvseID != nil {
		evse = *r.EvseID
	}
	now := time.Now()
	err := h.s.recordEvents(id, event(id, evse, "external_limit_cleared", sample.SeverityInfo,
		fmt.Sprintf("charger %s: external charging limit from %s cleared", id, r.ChargingLimitSource), now,
		map[string]any{"source": string(r.ChargingLimitSource)}, now.Format(time.RFC3339Nano)))
	if err != nil {
		return nil, err
	}
	return smartcharging.NewClearedChargingLimitResponse(), nil
}

func (h handler201) OnReportChargingProfiles(id string, r *smartcharging.ReportChargingProfilesRequest) (*smartcharging.ReportChargingProfilesResponse, error) {
	h.s.stats.inc(id, "report_charging_profiles")
	h.s.onReport(id, r)
	return smartcharging.NewReportChargingProfilesResponse(), nil
}

// OnNotifyEVChargingNeeds (K15): the EV's energy need and departure time go
// into the running session, where the van rules read them. Processing: the
// schedule comes from the rules' limits, not from this answer.
func (h handler201) OnNotifyEVChargingNeeds(id string, r *smartcharging.NotifyEVChargingNeedsRequest) (*smartcharging.NotifyEVChargingNeedsResponse, error) {
	if err := h.s.checkConnector(id, r.EvseID, false); err != nil {
		return nil, err
	}
	need := r.ChargingNeeds
	var departure time.Time
	if need.DepartureTime != nil {
		departure, _ = h.s.deviceTime(id, need.DepartureTime.Time)
		if need.DepartureTime.After(time.Now().Add(h.s.cfg.ClockTolerance)) {
			departure = need.DepartureTime.Time // a departure is in the future by nature
		}
	}
	energy := -1.0
	switch {
	case need.ACChargingParameters != nil:
		energy = float64(need.ACChargingParameters.EnergyAmount)
	case need.DCChargingParameters != nil && need.DCChargingParameters.EnergyAmount != nil:
		energy = float64(*need.DCChargingParameters.EnergyAmount)
	}
	err := h.s.do(id, func(c *charger) error {
		cs := c.connector(r.EvseID)
		if cs.Session == nil {
			return nil
		}
		cs.Session.EVDeparture = departure
		if energy >= 0 {
			cs.Session.EnergyNeedWh = energy
		}
		_, err := h.s.store.commit(c, []*Session{cs.Session}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return smartcharging.NewNotifyEVChargingNeedsResponse(smartcharging.EVChargingNeedsStatusProcessing), nil
}

func (h handler201) OnNotifyEVChargingSchedule(id string, _ *smartcharging.NotifyEVChargingScheduleRequest) (*smartcharging.NotifyEVChargingScheduleResponse, error) {
	h.s.stats.inc(id, "notify_ev_charging_schedule")
	return smartcharging.NewNotifyEVChargingScheduleResponse(types.GenericStatusAccepted), nil
}

func (h handler201) OnSecurityEventNotification(id string, r *security.SecurityEventNotificationRequest) (*security.SecurityEventNotificationResponse, error) {
	at := when201(r.Timestamp)
	sev := sample.SeverityWarning
	if strings.Contains(strings.ToLower(r.Type), "tamper") {
		sev = sample.SeverityCritical
	}
	err := h.s.recordEvents(id, event(id, -1, "security_event", sev,
		fmt.Sprintf("charger %s security event %s %s", id, r.Type, r.TechInfo), at,
		map[string]any{"type": r.Type, "tech_info": r.TechInfo}, r.Type+"/"+at.Format(time.RFC3339Nano)))
	if err != nil {
		return nil, err
	}
	return security.NewSecurityEventNotificationResponse(), nil
}

// OnSignCertificate: the office runs no CA for charger certificates (out of
// scope), so the defined answer is Rejected.
func (h handler201) OnSignCertificate(id string, _ *security.SignCertificateRequest) (*security.SignCertificateResponse, error) {
	h.s.stats.inc(id, "sign_certificate_rejected")
	return security.NewSignCertificateResponse(types.GenericStatusRejected), nil
}

func (h handler201) OnFirmwareStatusNotification(id string, r *fw201.FirmwareStatusNotificationRequest) (*fw201.FirmwareStatusNotificationResponse, error) {
	if err := h.s.firmwareStatus(id, string(r.Status)); err != nil {
		return nil, err
	}
	return fw201.NewFirmwareStatusNotificationResponse(), nil
}

func (h handler201) OnPublishFirmwareStatusNotification(id string, r *fw201.PublishFirmwareStatusNotificationRequest) (*fw201.PublishFirmwareStatusNotificationResponse, error) {
	h.s.stats.inc(id, "publish_firmware_"+string(r.Status))
	return fw201.NewPublishFirmwareStatusNotificationResponse(), nil
}

func (h handler201) OnNotifyDisplayMessages(id string, _ *display.NotifyDisplayMessagesRequest) (*display.NotifyDisplayMessagesResponse, error) {
	h.s.stats.inc(id, "notify_display_messages")
	return display.NewNotifyDisplayMessagesResponse(), nil
}

func (h handler201) OnReservationStatusUpdate(id string, r *reservation.ReservationStatusUpdateRequest) (*reservation.ReservationStatusUpdateResponse, error) {
	now := time.Now()
	err := h.s.recordEvents(id, event(id, -1, "reservation_status", sample.SeverityInfo,
		fmt.Sprintf("charger %s reservation %d: %s", id, r.ReservationID, r.Status), now,
		map[string]any{"reservation_id": int64(r.ReservationID), "status": string(r.Status)}, fmt.Sprintf("%d/%s", r.ReservationID, r.Status)))
	if err != nil {
		return nil, err
	}
	return reservation.NewReservationStatusUpdateResponse(), nil
}

// ISO 15118 certificate management is out of scope: the defined answers
// say Failed, so the EV falls back to other authorisation.
func (h handler201) OnGet15118EVCertificate(id string, _ *iso15118.Get15118EVCertificateRequest) (*iso15118.Get15118EVCertificateResponse, error) {
	h.s.stats.inc(id, "iso15118_refused")
	return iso15118.NewGet15118EVCertificateResponse(types.Certificate15118EVStatusFailed, "-"), nil
}

// OnGetCertificateStatus is not reached: the front answers Failed itself
// (frame.go directAnswer), which the library cannot express.
func (h handler201) OnGetCertificateStatus(id string, _ *iso15118.GetCertificateStatusRequest) (*iso15118.GetCertificateStatusResponse, error) {
	h.s.stats.inc(id, "iso15118_refused")
	return iso15118.NewGetCertificateStatusResponse(types.GenericStatusRejected), nil
}

// firmwareStatus records a firmware update's progress (either version).
func (s *Service) firmwareStatus(id, status string) error {
	now := time.Now()
	sev := sample.SeverityInfo
	if strings.Contains(status, "Failed") || strings.Contains(status, "Invalid") || strings.Contains(status, "Revoked") {
		sev = sample.SeverityWarning
	}
	return s.recordEvents(id, event(id, -1, "firmware_status", sev, fmt.Sprintf("charger %s firmware: %s", id, status), now,
		map[string]any{"status": status}, now.Format(time.RFC3339Nano)))
}

// handler16fw answers the 1.6 FirmwareManagement notifications.
type handler16fw struct{ s *Service }

func (h handler16fw) OnDiagnosticsStatusNotification(id string, r *firmware.DiagnosticsStatusNotificationRequest) (*firmware.DiagnosticsStatusNotificationConfirmation, error) {
	h.s.stats.inc(id, "diagnostics_status_"+string(r.Status))
	return firmware.NewDiagnosticsStatusNotificationConfirmation(), nil
}

func (h handler16fw) OnFirmwareStatusNotification(id string, r *firmware.FirmwareStatusNotificationRequest) (*firmware.FirmwareStatusNotificationConfirmation, error) {
	if err := h.s.firmwareStatus(id, string(r.Status)); err != nil {
		return nil, err
	}
	return firmware.NewFirmwareStatusNotificationConfirmation(), nil
}
