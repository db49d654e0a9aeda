package ocpp

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	types16 "github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	sc201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	types201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
)

// The profiles the office installed: every SetChargingProfile a charger
// accepted (from SetLimit, SetDefaultLimit, SetProfile or an operator's
// call) is kept with the charger in bbolt, replaced and cleared as the
// charger does it, and a TxProfile goes with its transaction. Composite
// works on this list; the charger's own view comes from GetCompositeSchedule.

// SetProfile installs a profile of the caller's making (recurring schedules,
// validity windows, several periods) and blocks until the charger answers.
func (s *Service) SetProfile(ctx context.Context, chargerID string, p ChargingProfile) (LimitResult, error) {
	if err := p.validate(); err != nil {
		return LimitResult{}, err
	}
	return s.sendProfile(ctx, chargerID, p.request16(), p.request201())
}

// Profiles lists the profiles chargerID accepted from the office.
func (s *Service) Profiles(chargerID string) []ChargingProfile {
	v := s.view(chargerID)
	if v == nil {
		return nil
	}
	return slices.Clone(v.profiles)
}

func (p ChargingProfile) validate() error {
	switch {
	case p.ID <= 0:
		return fmt.Errorf("profile id %d: must be > 0", p.ID)
	case p.ID >= profileIDMax && p.ID < profileIDTx+100:
		// The rules would replace it at their next cycle, or it theirs.
		return fmt.Errorf("profile id %d: %d-%d are the rules' own (SetLimit, SetDefaultLimit)", p.ID, profileIDMax, profileIDTx+99)
	case p.Connector < 0 || p.Connector > maxConnectors:
		return fmt.Errorf("profile %d: connector %d out of range", p.ID, p.Connector)
	case p.StackLevel < 0:
		return fmt.Errorf("profile %d: stack level must be >= 0", p.ID)
	case !slices.Contains([]string{PurposeMax, PurposeTxDefault, PurposeTx}, p.Purpose):
		return fmt.Errorf("profile %d: purpose %q: must be %s, %s or %s", p.ID, p.Purpose, PurposeMax, PurposeTxDefault, PurposeTx)
	case (p.Purpose == PurposeMax) != (p.Connector == 0) && p.Purpose != PurposeTxDefault:
		return fmt.Errorf("profile %d: %s belongs on connector %s", p.ID, p.Purpose, map[bool]string{true: "0", false: "> 0"}[p.Purpose == PurposeMax])
	case !slices.Contains([]string{KindAbsolute, KindRecurring, KindRelative}, p.Kind):
		return fmt.Errorf("profile %d: kind %q: must be Absolute, Recurring or Relative", p.ID, p.Kind)
	case p.Kind == KindRecurring && (p.Recurrency != RecurDaily && p.Recurrency != RecurWeekly || p.Schedule.Start.IsZero()):
		return fmt.Errorf("profile %d: a Recurring profile needs recurrency Daily or Weekly and a schedule start", p.ID)
	case p.Kind != KindRecurring && p.Recurrency != "":
		return fmt.Errorf("profile %d: recurrency only for Recurring profiles", p.ID)
	case !p.ValidFrom.IsZero() && !p.ValidTo.IsZero() && !p.ValidTo.After(p.ValidFrom):
		return fmt.Errorf("profile %d: valid_to must be after valid_from", p.ID)
	case p.Schedule.Unit != "A" && p.Schedule.Unit != "W":
		return fmt.Errorf("profile %d: unit %q: must be A or W", p.ID, p.Schedule.Unit)
	case len(p.Schedule.Periods) == 0 || p.Schedule.Periods[0].StartS != 0:
		return fmt.Errorf("profile %d: the first period must start at 0", p.ID)
	case p.Schedule.DurationS < 0:
		return fmt.Errorf("profile %d: duration must be >= 0", p.ID)
	}
	for i, per := range p.Schedule.Periods {
		if i > 0 && per.StartS <= p.Schedule.Periods[i-1].StartS {
			return fmt.Errorf("profile %d: period starts must increase", p.ID)
		}
		if per.Limit < 0 || (per.Phases != 0 && per.Phases != 1 && per.Phases != 3) {
			return fmt.Errorf("profile %d period %d: limit >= 0, phases 1 or 3", p.ID, i)
		}
	}
	return nil
}

func dt16(t time.Time) *types16.DateTime {
	if t.IsZero() {
		return nil
	}
	return types16.NewDateTime(t)
}

func dt201(t time.Time) *types201.DateTime {
	if t.IsZero() {
		return nil
	}
	return types201.NewDateTime(t)
}

func (p ChargingProfile) request16() ocpp.Request {
	sched := &types16.ChargingSchedule{StartSchedule: dt16(p.Schedule.Start), ChargingRateUnit: types16.ChargingRateUnitType(p.Schedule.Unit)}
	if p.Schedule.DurationS > 0 {
		sched.Duration = intp(p.Schedule.DurationS)
	}
	for _, per := range p.Schedule.Periods {
		cp := types16.NewChargingSchedulePeriod(per.StartS, per.Limit)
		if per.Phases > 0 {
			cp.NumberPhases = intp(per.Phases)
		}
		sched.ChargingSchedulePeriod = append(sched.ChargingSchedulePeriod, cp)
	}
	cp := types16.NewChargingProfile(p.ID, p.StackLevel, types16.ChargingProfilePurposeType(p.Purpose), types16.ChargingProfileKindType(p.Kind), sched)
	cp.RecurrencyKind = types16.RecurrencyKindType(p.Recurrency)
	cp.ValidFrom, cp.ValidTo = dt16(p.ValidFrom), dt16(p.ValidTo)
	if p.TransactionID != "" {
		cp.TransactionId, _ = strconv.Atoi(p.TransactionID)
	}
	return smartcharging.NewSetChargingProfileRequest(p.Connector, cp)
}

func (p ChargingProfile) request201() ocpp.Request {
	sched := types201.ChargingSchedule{ID: 1, StartSchedule: dt201(p.Schedule.Start), ChargingRateUnit: types201.ChargingRateUnitType(p.Schedule.Unit)}
	if p.Schedule.DurationS > 0 {
		sched.Duration = intp(p.Schedule.DurationS)
	}
	for _, per := range p.Schedule.Periods {
		cp := types201.NewChargingSchedulePeriod(per.StartS, per.Limit)
		if per.Phases > 0 {
			cp.NumberPhases = intp(per.Phases)
		}
		sched.ChargingSchedulePeriod = append(sched.ChargingSchedulePeriod, cp)
	}
	purpose := types201.ChargingProfilePurposeType(p.Purpose)
	if p.Purpose == PurposeMax {
		purpose = types201.ChargingProfilePurposeChargingStationMaxProfile
	}
	cp := types201.NewChargingProfile(p.ID, p.StackLevel, purpose, types201.ChargingProfileKindType(p.Kind), []types201.ChargingSchedule{sched})
	cp.RecurrencyKind = types201.RecurrencyKindType(p.Recurrency)
	cp.ValidFrom, cp.ValidTo, cp.TransactionID = dt201(p.ValidFrom), dt201(p.ValidTo), p.TransactionID
	return sc201.NewSetChargingProfileRequest(p.Connector, cp)
}

func timeOf16(d *types16.DateTime) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

func timeOf201(d *types201.DateTime) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

func fromSchedule16(s *types16.ChargingSchedule) Schedule {
	out := Schedule{Start: timeOf16(s.StartSchedule), Unit: string(s.ChargingRateUnit)}
	if s.Duration != nil {
		out.DurationS = *s.Duration
	}
	for _, per := range s.ChargingSchedulePeriod {
		p := Period{StartS: per.StartPeriod, Limit: per.Limit}
		if per.NumberPhases != nil {
			p.Phases = *per.NumberPhases
		}
		out.Periods = append(out.Periods, p)
	}
	return out
}

func fromSchedule201(s *types201.ChargingSchedule) Schedule {
	out := Schedule{Start: timeOf201(s.StartSchedule), Unit: string(s.ChargingRateUnit)}
	if s.Duration != nil {
		out.DurationS = *s.Duration
	}
	for _, per := range s.ChargingSchedulePeriod {
		p := Period{StartS: per.StartPeriod, Limit: per.Limit}
		if per.NumberPhases != nil {
			p.Phases = *per.NumberPhases
		}
		out.Periods = append(out.Periods, p)
	}
	return out
}

// installedBy turns an accepted SetChargingProfile into our form.
func installedBy(req ocpp.Request) (ChargingProfile, bool) {
	switch r := req.(type) {
	case *smartcharging.SetChargingProfileRequest:
		cp := r.ChargingProfile
		if cp == nil || cp.ChargingSchedule == nil {
			return ChargingProfile{}, false
		}
		p := ChargingProfile{ID: cp.ChargingProfileId, Connector: r.ConnectorId, StackLevel: cp.StackLevel,
			Purpose: string(cp.ChargingProfilePurpose), Kind: string(cp.ChargingProfileKind), Recurrency: string(cp.RecurrencyKind),
			ValidFrom: timeOf16(cp.ValidFrom), ValidTo: timeOf16(cp.ValidTo), Schedule: fromSchedule16(cp.ChargingSchedule)}
		if cp.ChargingProfilePurpose == types16.ChargingProfilePurposeTxProfile && cp.TransactionId != 0 {
			p.TransactionID = strconv.Itoa(cp.TransactionId)
		}
		return p, true
	case *sc201.SetChargingProfileRequest:
		cp := r.ChargingProfile
		if cp == nil || len(cp.ChargingSchedule) == 0 {
			return ChargingProfile{}, false
		}
		p := ChargingProfile{ID: cp.ID, Connector: r.EvseID, StackLevel: cp.StackLevel,
			Purpose: string(cp.ChargingProfilePurpose), Kind: string(cp.ChargingProfileKind), Recurrency: string(cp.RecurrencyKind),
			ValidFrom: timeOf201(cp.ValidFrom), ValidTo: timeOf201(cp.ValidTo), TransactionID: cp.TransactionID,
			Schedule: fromSchedule201(&cp.ChargingSchedule[0])}
		if p.Purpose == string(types201.ChargingProfilePurposeChargingStationMaxProfile) {
			p.Purpose = PurposeMax
		}
		return p, true
	}
	return ChargingProfile{}, false
}

// clearFilter is a ClearChargingProfile's criteria (nil / "" match all).
type clearFilter struct {
	id, connector, stack *int
	purpose              string
}

func (f clearFilter) match(p ChargingProfile) bool {
	if f.id != nil {
		return p.ID == *f.id // 1.6 §6.9: with an id, the other criteria are ignored
	}
	return (f.connector == nil || p.Connector == *f.connector) && (f.purpose == "" || p.Purpose == f.purpose) &&
		(f.stack == nil || p.StackLevel == *f.stack)
}

// trackProfiles records what an answered call did to the charger's profiles
// (req16 or req201: the one that was sent, by the answer's type). An
// unchanged list costs no write: the rules resend the same limit often.
func (s *Service) trackProfiles(chargerID string, req16, req201 ocpp.Request, resp ocpp.Response) {
	req := req16
	switch resp.(type) {
	case *sc201.SetChargingProfileResponse, *sc201.ClearChargingProfileResponse:
		req = req201
	}
	var install *ChargingProfile
	var clear *clearFilter
	switch r := resp.(type) {
	case *smartcharging.SetChargingProfileConfirmation:
		if r.Status == smartcharging.ChargingProfileStatusAccepted {
			if p, ok := installedBy(req); ok {
				install = &p
			}
		}
	case *sc201.SetChargingProfileResponse:
		if r.Status == sc201.ChargingProfileStatusAccepted {
			if p, ok := installedBy(req); ok {
				install = &p
			}
		}
	case *smartcharging.ClearChargingProfileConfirmation:
		if q, ok := req.(*smartcharging.ClearChargingProfileRequest); ok { // Unknown: the charger holds none of them either
			clear = &clearFilter{id: q.Id, connector: q.ConnectorId, stack: q.StackLevel, purpose: string(q.ChargingProfilePurpose)}
		}
	case *sc201.ClearChargingProfileResponse:
		if q, ok := req.(*sc201.ClearChargingProfileRequest); ok && r.Status != "" {
			clear = &clearFilter{id: q.ChargingProfileID}
			if c := q.ChargingProfileCriteria; c != nil {
				clear.connector, clear.stack, clear.purpose = c.EvseID, c.StackLevel, string(c.ChargingProfilePurpose)
				if clear.purpose == string(types201.ChargingProfilePurposeChargingStationMaxProfile) {
					clear.purpose = PurposeMax
				}
			}
		}
	}
	if install == nil && clear == nil {
		return
	}
	err := s.do(chargerID, func(c *charger) error {
		n := len(c.Profiles)
		if install != nil {
			p := *install
			if slices.ContainsFunc(c.Profiles, func(o ChargingProfile) bool { return reflect.DeepEqual(o, p) }) {
				return nil
			}
			// A charger replaces a profile with the same id, or the same
			// connector, purpose and stack level (1.6 §3.13.2, 2.0.1 K01.FR.05).
			c.Profiles = slices.DeleteFunc(c.Profiles, func(o ChargingProfile) bool {
				return o.ID == p.ID || (o.Connector == p.Connector && o.Purpose == p.Purpose && o.StackLevel == p.StackLevel && p.Purpose != PurposeTx)
			})
			c.Profiles = append(c.Profiles, p)
		} else if c.Profiles = slices.DeleteFunc(c.Profiles, clear.match); len(c.Profiles) == n {
			return nil
		}
		// Written with the charger's next commit, or by flushProfiles within
		// outboxRetry: the rules change limits every cycle, and a disk write
		// per limit would cost more than the record is worth. A crash loses
		// at most those seconds of the record, which the comparison with
		// the charger's composite schedule then shows.
		c.profilesDirty = true
		s.dirtyProfiles.Store(chargerID, true)
		return nil
	})
	if err != nil {
		s.log.Error("ocpp: record installed profiles", "charger", chargerID, "err", err)
	}
}

// flushProfiles writes the profile lists changed since their charger's last
// commit (runOutbox calls it, and Run on the way out).
func (s *Service) flushProfiles() {
	s.dirtyProfiles.Range(func(k, _ any) bool {
		id := k.(string)
		s.dirtyProfiles.Delete(id)
		err := s.do(id, func(c *charger) error {
			if !c.profilesDirty {
				return nil
			}
			_, err := s.store.commit(c, nil, nil)
			return err
		})
		if err != nil && !errors.Is(err, errStopped) {
			s.dirtyProfiles.Store(id, true)
			s.log.Error("ocpp: save installed profiles", "charger", id, "err", err)
		}
		return true
	})
}

// dropTxProfiles: a TxProfile ends with its transaction (1.6 §3.13.1,
// 2.0.1 K01: it lives as long as its transaction). Runs on the owner,
// before the session is committed.
func dropTxProfiles(c *charger, ss *Session) {
	c.Profiles = slices.DeleteFunc(c.Profiles, func(p ChargingProfile) bool {
		return p.Purpose == PurposeTx && (p.TransactionID == ss.TransactionID || (p.TransactionID == "" && p.Connector == ss.Connector))
	})
}
