package ocpp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	types16 "github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	sc201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	types201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
)

// Limit is a charging limit for a connector (or connector 0: the charger).
type Limit struct {
	Unit   string  `json:"unit"`   // "A" (per phase) or "W" (total)
	Value  float64 `json:"value"`  // 0 pauses charging
	Phases int     `json:"phases"` // 1 or 3; 0 leaves it to the charger
}

// LimitStatus is what became of a SetLimit.
type LimitStatus string

const (
	LimitConfirmed LimitStatus = "confirmed"
	LimitRejected  LimitStatus = "rejected" // the charger answered Rejected/NotSupported or a CALLERROR
	LimitTimedOut  LimitStatus = "timed_out"
	LimitOffline   LimitStatus = "offline"
)

// LimitResult reports a SetLimit.
type LimitResult struct {
	Status LimitStatus
	Detail string        // the charger's status or error
	Took   time.Duration // from the call to the charger's answer
}

type rejection struct {
	limit Limit
	at    time.Time
}

// rejectHold is how long an identical limit the charger rejected is answered
// from memory: a charger that cannot take a profile should not be asked again
// every control cycle.
const rejectHold = time.Minute

// profileIDs keep ours apart from profiles others (a CSMS upstream, the
// installer) may have put on the charger.
const (
	profileIDDefault = 9100
	profileIDTx      = 9200
	stackLevelPolis  = 5
)

func (l Limit) validate() error {
	if l.Unit != "A" && l.Unit != "W" {
		return fmt.Errorf("limit unit %q: must be A or W", l.Unit)
	}
	if l.Value < 0 {
		return fmt.Errorf("limit value %v: must be >= 0", l.Value)
	}
	if l.Phases != 0 && l.Phases != 1 && l.Phases != 3 {
		return fmt.Errorf("limit phases %d: must be 0, 1 or 3", l.Phases)
	}
	return nil
}

// SetLimit sends a charging profile and blocks until the charger answers,
// the command timeout passes or ctx ends. With a session running on the
// connector it is a TxProfile for that transaction, else a TxDefaultProfile
// that the next session starts with.
func (s *Service) SetLimit(ctx context.Context, chargerID string, connector int, l Limit) (LimitResult, error) {
	if err := l.validate(); err != nil {
		return LimitResult{}, err
	}
	key := chargerID + "/" + strconv.Itoa(connector)
	s.mu.Lock()
	if r, ok := s.rejected[key]; ok && r.limit == l && time.Since(r.at) < rejectHold {
		s.mu.Unlock()
		s.stats.inc(chargerID, "limit_rejected_cached")
		return LimitResult{Status: LimitRejected, Detail: "rejected earlier; not resent within " + rejectHold.String()}, nil
	}
	txID := ""
	if c := s.chargers[chargerID]; c != nil && connector > 0 {
		if cs := c.Connectors[connector]; cs != nil && cs.Session != nil {
			txID = cs.Session.TransactionID
		}
	}
	s.mu.Unlock()

	start := time.Now()
	resp, err := s.call(ctx, chargerID, profile16(connector, txID, l), profile201(connector, txID, l))
	res := LimitResult{Took: time.Since(start)}
	var ce *CallError
	switch {
	case errors.Is(err, ErrNotConnected):
		res.Status, res.Detail = LimitOffline, err.Error()
	case errors.Is(err, ErrTimeout):
		res.Status, res.Detail = LimitTimedOut, err.Error()
	case errors.As(err, &ce):
		res.Status, res.Detail = LimitRejected, ce.Error()
	case err != nil:
		return res, err
	default:
		res.Status, res.Detail = LimitRejected, profileStatus(resp)
		if res.Detail == "Accepted" {
			res.Status = LimitConfirmed
		}
	}
	s.recordLimit(chargerID, connector, key, l, res)
	return res, nil
}

func (s *Service) recordLimit(chargerID string, connector int, key string, l Limit, res LimitResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Status == LimitRejected {
		s.rejected[key] = rejection{l, time.Now()}
	} else {
		delete(s.rejected, key)
	}
	if c := s.chargers[chargerID]; c != nil {
		c.connector(connector).Requested = &LimitState{Limit: l, Status: res.Status, At: time.Now()}
	}
	s.stats.inc(chargerID, "limit_"+string(res.Status))
	if res.Status == LimitRejected {
		_ = s.emit(eventLimitRejected(chargerID, connector, l, res.Detail))
	}
}

func profileStatus(resp ocpp.Response) string {
	switch r := resp.(type) {
	case *smartcharging.SetChargingProfileConfirmation:
		return string(r.Status)
	case *sc201.SetChargingProfileResponse:
		return string(r.Status)
	}
	return fmt.Sprintf("unexpected answer %T", resp)
}

func profile16(connector int, txID string, l Limit) ocpp.Request {
	period := types16.NewChargingSchedulePeriod(0, l.Value)
	if l.Phases > 0 {
		period.NumberPhases = &l.Phases
	}
	sched := types16.NewChargingSchedule(types16.ChargingRateUnitType(l.Unit), period)
	p := types16.NewChargingProfile(profileIDDefault, stackLevelPolis, types16.ChargingProfilePurposeTxDefaultProfile, types16.ChargingProfileKindRelative, sched)
	if txID != "" {
		p.ChargingProfileId, p.ChargingProfilePurpose = profileIDTx, types16.ChargingProfilePurposeTxProfile
		p.TransactionId, _ = strconv.Atoi(txID)
	}
	return smartcharging.NewSetChargingProfileRequest(connector, p)
}

func profile201(evse int, txID string, l Limit) ocpp.Request {
	period := types201.NewChargingSchedulePeriod(0, l.Value)
	if l.Phases > 0 {
		period.NumberPhases = &l.Phases
	}
	sched := types201.NewChargingSchedule(1, types201.ChargingRateUnitType(l.Unit), period)
	p := types201.NewChargingProfile(profileIDDefault, stackLevelPolis, types201.ChargingProfilePurposeTxDefaultProfile, types201.ChargingProfileKindRelative, []types201.ChargingSchedule{*sched})
	if txID != "" {
		p.ID, p.ChargingProfilePurpose, p.TransactionID = profileIDTx, types201.ChargingProfilePurposeTxProfile, txID
	}
	return sc201.NewSetChargingProfileRequest(evse, p)
}

// ClearLimit removes the profiles SetLimit installed on a connector.
func (s *Service) ClearLimit(ctx context.Context, chargerID string, connector int) (string, error) {
	r16 := smartcharging.NewClearChargingProfileRequest()
	r16.ConnectorId = &connector
	r16.StackLevel = intp(stackLevelPolis)
	r201 := sc201.NewClearChargingProfileRequest()
	r201.ChargingProfileCriteria = &sc201.ClearChargingProfileType{EvseID: &connector, StackLevel: intp(stackLevelPolis)}
	resp, err := s.call(ctx, chargerID, r16, r201)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if c := s.chargers[chargerID]; c != nil {
		c.connector(connector).Requested = nil
	}
	s.mu.Unlock()
	switch r := resp.(type) {
	case *smartcharging.ClearChargingProfileConfirmation:
		return string(r.Status), nil
	case *sc201.ClearChargingProfileResponse:
		return string(r.Status), nil
	}
	return "", fmt.Errorf("ClearChargingProfile %s: unexpected answer %T", chargerID, resp)
}

func intp(v int) *int { return &v }
