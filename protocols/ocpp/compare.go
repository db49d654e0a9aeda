package ocpp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	types16 "github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	sc201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/smartcharging"
	types201 "github.com/lorenzodonini/ocpp-go/ocpp2.0.1/types"
)

// CompositeComparison is the office's composite schedule for a connector
// next to the one the charger reported for the same window.
type CompositeComparison struct {
	Charger   string `json:"charger"`
	Connector int    `json:"connector"`
	Status    string `json:"status"` // the charger's GetCompositeSchedule status
	// Local is computed from Profiles (installed by the office) from the
	// charger's schedule start (or now when it gave none).
	Local    CompositeSchedule    `json:"local"`
	Reported *CompositeSchedule   `json:"reported,omitempty"`
	Profiles []ChargingProfile    `json:"profiles"`
	Differs  []ScheduleDifference `json:"differences"`
	// Agree: Accepted, and the charger applies every limit the office set
	// (differences where the office sets none, OnlyCharger, are listed
	// but do not count: the charger reports its hardware maximum there).
	Agree bool `json:"agree"`
}

// ScheduleDifference is an interval (seconds from the schedule start) where
// the two schedules disagree. Local nil: no office profile limits it.
type ScheduleDifference struct {
	FromS    int      `json:"from_s"`
	ToS      int      `json:"to_s"`
	Local    *float64 `json:"local"`
	Reported *float64 `json:"reported"`
	// OnlyCharger: the office sets no limit here, the charger reports one
	// (its hardware maximum, or a profile that is not ours).
	OnlyCharger bool `json:"only_charger,omitempty"`
}

// CompareComposite asks the charger for its composite schedule of connector
// for durationS seconds in unit (A or W) and sets it against the office's.
func (s *Service) CompareComposite(ctx context.Context, chargerID string, connector, durationS int, unit string) (CompositeComparison, error) {
	out := CompositeComparison{Charger: chargerID, Connector: connector, Differs: []ScheduleDifference{}}
	if unit != "A" && unit != "W" {
		return out, fmt.Errorf("composite unit %q: must be A or W", unit)
	}
	if connector < 0 || connector > maxConnectors || durationS <= 0 || durationS > 7*24*3600 {
		return out, fmt.Errorf("composite connector %d, duration %d s: connector 0-%d, duration 1 s to 7 days", connector, durationS, maxConnectors)
	}
	r16 := smartcharging.NewGetCompositeScheduleRequest(connector, durationS)
	r16.ChargingRateUnit = types16.ChargingRateUnitType(unit)
	r201 := sc201.NewGetCompositeScheduleRequest(durationS, connector)
	r201.ChargingRateUnit = types201.ChargingRateUnitType(unit)
	asked := time.Now()
	resp, err := s.call(ctx, chargerID, r16, r201)
	if err != nil {
		return out, err
	}
	out.Status, out.Reported = reportedComposite(resp, connector, unit)
	var tx *TxContext
	if v := s.view(chargerID); v != nil {
		out.Profiles = v.profiles
		if cs := v.connector(connector); cs != nil && cs.Session != nil && connector > 0 {
			tx = &TxContext{ID: cs.Session.TransactionID, Start: cs.Session.Start}
		}
	}
	if out.Profiles == nil {
		out.Profiles = []ChargingProfile{}
	}
	from := asked
	if out.Reported != nil && !out.Reported.Start.IsZero() {
		from = out.Reported.Start
	}
	out.Local = Composite(out.Profiles, connector, tx, from, durationS, unit)
	if out.Reported != nil {
		out.Differs = compareSchedules(out.Local, *out.Reported)
	}
	out.Agree = out.Status == "Accepted" && out.Reported != nil &&
		!slices.ContainsFunc(out.Differs, func(d ScheduleDifference) bool { return !d.OnlyCharger })
	return out, nil
}

// reportedComposite reads the charger's answer into our form, in unit.
func reportedComposite(resp ocpp.Response, connector int, unit string) (string, *CompositeSchedule) {
	var sched Schedule
	var start time.Time
	switch r := resp.(type) {
	case *smartcharging.GetCompositeScheduleConfirmation:
		if r.Status != smartcharging.GetCompositeScheduleStatusAccepted || r.ChargingSchedule == nil {
			return string(r.Status), nil
		}
		sched, start = fromSchedule16(r.ChargingSchedule), timeOf16(r.ScheduleStart)
	case *sc201.GetCompositeScheduleResponse:
		if r.Status != sc201.GetCompositeScheduleStatusAccepted || r.Schedule == nil || r.Schedule.ChargingSchedule == nil {
			return string(r.Status), nil
		}
		sched, start = fromSchedule201(r.Schedule.ChargingSchedule), timeOf201(r.Schedule.StartDateTime)
	default:
		return fmt.Sprintf("unexpected answer %T", resp), nil
	}
	if start.IsZero() {
		start = sched.Start
	}
	// Whole seconds, as the office's own schedule (a charger may send ms).
	out := &CompositeSchedule{Connector: connector, Start: start.Truncate(time.Second), DurationS: sched.DurationS, Unit: unit}
	for _, p := range sched.Periods {
		out.Periods = append(out.Periods, convert(p, sched.Unit, unit))
	}
	return "Accepted", out
}

// compareSchedules lists the intervals where local and reported differ by
// more than 1 % (chargers round, and W↔A conversions use their own
// voltage). The reported schedule is aligned on its own start.
func compareSchedules(local, rep CompositeSchedule) []ScheduleDifference {
	shift := int(math.Round(rep.Start.Sub(local.Start).Seconds()))
	dur := local.DurationS
	if rep.DurationS > 0 && rep.DurationS+shift < dur {
		dur = rep.DurationS + shift // what the charger did not report is not compared
	}
	points := []int{0}
	for _, p := range local.Periods {
		points = append(points, p.StartS)
	}
	for _, p := range rep.Periods {
		points = append(points, p.StartS+shift)
	}
	slices.Sort(points)
	points = slices.Compact(points)
	out := []ScheduleDifference{}
	for i, from := range points {
		if from < 0 || from >= dur {
			continue
		}
		to := dur
		if i+1 < len(points) && points[i+1] < dur {
			to = points[i+1]
		}
		l, r := valueAt(local.Periods, from), valueAt(rep.Periods, from-shift)
		if sameLimit(l, r) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].ToS == from && sameLimit(out[n-1].Local, l) && sameLimit(out[n-1].Reported, r) {
			out[n-1].ToS = to
			continue
		}
		out = append(out, ScheduleDifference{FromS: from, ToS: to, Local: l, Reported: r, OnlyCharger: l == nil})
	}
	return out
}

func valueAt(periods []Period, off int) *float64 {
	var cur *Period
	for i := range periods {
		if periods[i].StartS <= off {
			cur = &periods[i]
		}
	}
	if cur == nil || cur.NoLimit {
		return nil
	}
	v := cur.Limit
	return &v
}

func sameLimit(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) <= 0.01*math.Max(math.Abs(*a), math.Abs(*b))+1e-9
}

// compositeFrame201 rewrites a 2.0.1 GetCompositeSchedule answer from the
// official schema's shape (schedule: {evseId, duration, scheduleStart,
// chargingRateUnit, chargingSchedulePeriod}) into the one the library
// v0.19.0 decodes (schedule: {startDateTime, chargingSchedule}), which would
// otherwise drop the whole schedule without a word. Other frames: nil.
func compositeFrame201(proto string, data []byte) []byte {
	if proto != subproto201 || !bytesContains(data, `"scheduleStart"`) || !bytesContains(data, `"chargingSchedulePeriod"`) {
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(data, &arr) != nil || len(arr) != 3 || string(arr[0]) != "3" {
		return nil
	}
	var payload map[string]json.RawMessage
	if json.Unmarshal(arr[2], &payload) != nil || payload["schedule"] == nil {
		return nil
	}
	var official struct {
		EvseID           int             `json:"evseId"`
		Duration         int             `json:"duration"`
		ScheduleStart    json.RawMessage `json:"scheduleStart"`
		ChargingRateUnit string          `json:"chargingRateUnit"`
		Periods          json.RawMessage `json:"chargingSchedulePeriod"`
	}
	if json.Unmarshal(payload["schedule"], &official) != nil || official.ScheduleStart == nil || official.Periods == nil {
		return nil
	}
	payload["schedule"], _ = json.Marshal(map[string]any{
		"startDateTime": official.ScheduleStart,
		"chargingSchedule": map[string]any{"id": 0, "duration": official.Duration, "startSchedule": official.ScheduleStart,
			"chargingRateUnit": official.ChargingRateUnit, "chargingSchedulePeriod": official.Periods},
	})
	arr[2], _ = json.Marshal(payload)
	out, _ := json.Marshal(arr)
	return out
}

// officialComposite201 is the inverse for an operator's answer: the route
// returns the official schema's shape (which has no top-level evseId).
func officialComposite201(r *sc201.GetCompositeScheduleResponse, evse int) any {
	if r.Schedule == nil || r.Schedule.ChargingSchedule == nil {
		return map[string]any{"status": r.Status}
	}
	cs := r.Schedule.ChargingSchedule
	dur := 0
	if cs.Duration != nil {
		dur = *cs.Duration
	}
	start := r.Schedule.StartDateTime
	if start == nil {
		start = cs.StartSchedule
	}
	return map[string]any{"status": r.Status, "schedule": map[string]any{
		"evseId": evse, "duration": dur, "scheduleStart": start, "chargingRateUnit": cs.ChargingRateUnit,
		"chargingSchedulePeriod": cs.ChargingSchedulePeriod}}
}

func bytesContains(data []byte, s string) bool { return bytes.Contains(data, []byte(s)) }
