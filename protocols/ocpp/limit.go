package ocpp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	types16 "github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	sc201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	types201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
	"github.com/polis-edge/polis/protocols/sample"
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

// Our profile ids and stack levels. The ids keep ours apart from profiles
// others (a CSMS upstream, the installer) may have put on the charger, and
// every connector/EVSE has its own: a charger replaces a profile with the
// same id whatever its connector (1.6 §3.13.2, 2.0.1 K01.FR.05), so a shared
// id would let a limit on connector 2 silently remove connector 1's.
const (
	profileIDMax      = 9000 // SetLimit on connector 0: the whole charger
	profileIDFailsafe = 9050 // SetDefaultLimit: TxDefaultProfile on connector 0
	profileIDDefault  = 9100 // + connector: TxDefaultProfile per connector
	profileIDTx       = 9200 // + connector: TxProfile for the running session
	// The fail-safe sits below the live limits, so a live limit overrides
	// it while the edge runs and it takes over for new sessions when the
	// edge is gone.
	stackLevelFailsafe = 1
	stackLevelPolis    = 5
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
	if connector < 0 {
		return LimitResult{}, fmt.Errorf("limit connector %d: must be >= 0", connector)
	}
	key := chargerID + "/" + strconv.Itoa(connector)
	if cached, ok := s.rejectedBefore(chargerID, key, l); ok {
		return cached, nil
	}
	txID := ""
	if v := s.view(chargerID); v != nil && connector > 0 {
		if cs := v.connector(connector); cs != nil && cs.Session != nil {
			txID = cs.Session.TransactionID
		}
	}
	res, err := s.sendProfile(ctx, chargerID, profile16(connector, txID, l), profile201(connector, txID, l))
	if err != nil {
		return res, err
	}
	s.recordLimit(chargerID, connector, key, l, res)
	return res, nil
}

// SetDefaultLimit installs the fail-safe: a TxDefaultProfile of amps per
// phase on connector/EVSE 0, at a stack level below SetLimit's, so it is what
// every new session gets when the edge is not there to say otherwise. The
// charger keeps it across our outages; it is remembered and installed again
// after every BootNotification (a charger may forget profiles on reboot).
func (s *Service) SetDefaultLimit(ctx context.Context, chargerID string, amps float64) (LimitResult, error) {
	l := Limit{Unit: "A", Value: amps}
	if err := l.validate(); err != nil {
		return LimitResult{}, err
	}
	if s.view(chargerID) == nil && !s.isKnown(chargerID) {
		return LimitResult{Status: LimitOffline, Detail: "charger never seen"}, nil
	}
	err := s.do(chargerID, func(c *charger) error {
		c.DefaultLimit = &LimitState{Limit: l, Status: LimitOffline, At: time.Now()}
		_, err := s.store.commit(c, nil, nil)
		return err
	})
	if err != nil {
		return LimitResult{}, err
	}
	if cached, ok := s.rejectedBefore(chargerID, chargerID+"/default", l); ok {
		return cached, nil
	}
	return s.installDefault(ctx, chargerID, l)
}

// installDefault sends the fail-safe profile and records the outcome.
func (s *Service) installDefault(ctx context.Context, chargerID string, l Limit) (LimitResult, error) {
	res, err := s.sendProfile(ctx, chargerID, failsafe16(l), failsafe201(l))
	if err != nil {
		return res, err
	}
	s.recordLimit(chargerID, 0, chargerID+"/default", l, res)
	return res, nil
}

// reinstallDefault runs after a charger (re)connects and boots.
func (s *Service) reinstallDefault(chargerID string) {
	v := s.view(chargerID)
	if v == nil || v.defaultLimit == nil {
		return
	}
	l := &v.defaultLimit.Limit
	res, err := s.installDefault(context.Background(), chargerID, *l)
	if err != nil || res.Status != LimitConfirmed {
		s.log.Warn("ocpp: fail-safe default profile not installed", "charger", chargerID, "status", res.Status, "detail", res.Detail, "err", err)
	}
}

// rejectedBefore answers from memory a limit the charger rejected recently.
func (s *Service) rejectedBefore(chargerID, key string, l Limit) (LimitResult, bool) {
	s.rejMu.Lock()
	r, ok := s.rejected[key]
	s.rejMu.Unlock()
	if ok && r.limit == l && time.Since(r.at) < rejectHold {
		s.stats.inc(chargerID, "limit_rejected_cached")
		return LimitResult{Status: LimitRejected, Detail: "rejected earlier; not resent within " + rejectHold.String()}, true
	}
	return LimitResult{}, false
}

// sendProfile sends a SetChargingProfile and classifies the outcome.
func (s *Service) sendProfile(ctx context.Context, chargerID string, r16, r201 ocpp.Request) (LimitResult, error) {
	start := time.Now()
	resp, err := s.call(ctx, chargerID, r16, r201)
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
		s.trackProfiles(chargerID, r16, r201, resp) // after Took: the charger has answered
	}
	return res, nil
}

// recordLimit remembers a rejection (not resent for rejectHold), puts the
// outcome in the connector's live state, and queues a limit_rejected event
// with the state, so the event survives a buffer refusal.
func (s *Service) recordLimit(chargerID string, connector int, key string, l Limit, res LimitResult) {
	now := time.Now()
	s.rejMu.Lock()
	if res.Status == LimitRejected {
		s.rejected[key] = rejection{l, now}
	} else {
		delete(s.rejected, key)
	}
	s.rejMu.Unlock()
	s.stats.inc(chargerID, "limit_"+string(res.Status))
	isDefault := strings.HasSuffix(key, "/default")
	var q queued
	err := s.do(chargerID, func(c *charger) error {
		if isDefault {
			if c.DefaultLimit != nil && c.DefaultLimit.Limit == l {
				c.DefaultLimit.Status, c.DefaultLimit.At = res.Status, now
			}
		} else {
			c.connector(connector).Requested = &LimitState{Limit: l, Status: res.Status, At: now}
		}
		if res.Status != LimitRejected && !isDefault {
			return nil // live state only: the next SetLimit says it again
		}
		var events []sample.Sample
		if res.Status == LimitRejected {
			events = append(events, eventLimitRejected(chargerID, connector, l, res.Detail, now))
		}
		var err error
		q, err = s.store.commit(c, nil, events)
		return err
	})
	if err != nil {
		s.log.Error("ocpp: record limit outcome", "charger", chargerID, "err", err)
		return
	}
	s.deliver(q)
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

func schedule16(l Limit) *types16.ChargingSchedule {
	period := types16.NewChargingSchedulePeriod(0, l.Value)
	if l.Phases > 0 {
		period.NumberPhases = &l.Phases
	}
	return types16.NewChargingSchedule(types16.ChargingRateUnitType(l.Unit), period)
}

func schedule201(l Limit) types201.ChargingSchedule {
	period := types201.NewChargingSchedulePeriod(0, l.Value)
	if l.Phases > 0 {
		period.NumberPhases = &l.Phases
	}
	return *types201.NewChargingSchedule(1, types201.ChargingRateUnitType(l.Unit), period)
}

// profile16 is SetLimit's profile: on connector 0 the charger-wide
// ChargePointMaxProfile (absolute from now: a max profile has no
// transaction to be relative to), on a connector a TxProfile for the
// running transaction or else the connector's TxDefaultProfile.
func profile16(connector int, txID string, l Limit) ocpp.Request {
	sched := schedule16(l)
	if connector == 0 {
		sched.StartSchedule = types16.NewDateTime(time.Now().Truncate(time.Second))
		p := types16.NewChargingProfile(profileIDMax, stackLevelPolis, types16.ChargingProfilePurposeChargePointMaxProfile, types16.ChargingProfileKindAbsolute, sched)
		return smartcharging.NewSetChargingProfileRequest(0, p)
	}
	p := types16.NewChargingProfile(profileIDDefault+connector, stackLevelPolis, types16.ChargingProfilePurposeTxDefaultProfile, types16.ChargingProfileKindRelative, sched)
	if txID != "" {
		p.ChargingProfileId, p.ChargingProfilePurpose = profileIDTx+connector, types16.ChargingProfilePurposeTxProfile
		p.TransactionId, _ = strconv.Atoi(txID)
	}
	return smartcharging.NewSetChargingProfileRequest(connector, p)
}

func profile201(evse int, txID string, l Limit) ocpp.Request {
	sched := schedule201(l)
	if evse == 0 {
		sched.StartSchedule = types201.NewDateTime(time.Now().Truncate(time.Second))
		p := types201.NewChargingProfile(profileIDMax, stackLevelPolis, types201.ChargingProfilePurposeChargingStationMaxProfile, types201.ChargingProfileKindAbsolute, []types201.ChargingSchedule{sched})
		return sc201.NewSetChargingProfileRequest(0, p)
	}
	p := types201.NewChargingProfile(profileIDDefault+evse, stackLevelPolis, types201.ChargingProfilePurposeTxDefaultProfile, types201.ChargingProfileKindRelative, []types201.ChargingSchedule{sched})
	if txID != "" {
		p.ID, p.ChargingProfilePurpose, p.TransactionID = profileIDTx+evse, types201.ChargingProfilePurposeTxProfile, txID
	}
	return sc201.NewSetChargingProfileRequest(evse, p)
}

func failsafe16(l Limit) ocpp.Request {
	p := types16.NewChargingProfile(profileIDFailsafe, stackLevelFailsafe, types16.ChargingProfilePurposeTxDefaultProfile, types16.ChargingProfileKindRelative, schedule16(l))
	return smartcharging.NewSetChargingProfileRequest(0, p)
}

func failsafe201(l Limit) ocpp.Request {
	p := types201.NewChargingProfile(profileIDFailsafe, stackLevelFailsafe, types201.ChargingProfilePurposeTxDefaultProfile, types201.ChargingProfileKindRelative, []types201.ChargingSchedule{schedule201(l)})
	return sc201.NewSetChargingProfileRequest(0, p)
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
	s.trackProfiles(chargerID, r16, r201, resp)
	_ = s.do(chargerID, func(c *charger) error {
		c.connector(connector).Requested = nil
		return nil
	})
	switch r := resp.(type) {
	case *smartcharging.ClearChargingProfileConfirmation:
		return string(r.Status), nil
	case *sc201.ClearChargingProfileResponse:
		return string(r.Status), nil
	}
	return "", fmt.Errorf("ClearChargingProfile %s: unexpected answer %T", chargerID, resp)
}

func intp(v int) *int { return &v }
