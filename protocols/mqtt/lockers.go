package mqtt

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/polis-edge/polis/protocols/mqtt/locker"
	"github.com/polis-edge/polis/protocols/sample"
)

// Result is the outcome of a locker command: Result is done, refused or
// timed_out (pending only if the caller's ctx ended first).
type Result = locker.Record

// AuditEntry is one step of the locker audit trail.
type AuditEntry = locker.AuditEntry

// OpenCompartment opens one compartment for operator, with a reason. The
// correlation id makes retries safe: the same id never reaches the bank twice
// and returns the first result.
func (s *Service) OpenCompartment(ctx context.Context, bank, compartment, reason, operator, correlationID string) (Result, error) {
	return s.cmd.Do(ctx, locker.Request{ID: correlationID, Bank: bank, Cmd: locker.CmdOpen,
		Compartment: compartment, Reason: reason, Operator: operator})
}

// SetOutOfService takes a compartment out of service (or back, with
// outOfService false).
func (s *Service) SetOutOfService(ctx context.Context, bank, compartment string, outOfService bool, reason, operator, correlationID string) (Result, error) {
	return s.cmd.Do(ctx, locker.Request{ID: correlationID, Bank: bank, Cmd: locker.CmdOutOfService,
		Compartment: compartment, OutOfService: outOfService, Reason: reason, Operator: operator})
}

// RequestStatus asks a bank to publish its status now.
func (s *Service) RequestStatus(ctx context.Context, bank, operator, correlationID string) (Result, error) {
	return s.cmd.Do(ctx, locker.Request{ID: correlationID, Bank: bank, Cmd: locker.CmdRequestStatus, Operator: operator})
}

// Audit returns the steps of one correlation id, or (id "") the most recent
// locker.MaxAuditPage entries; AuditPage pages through the whole trail.
func (s *Service) Audit(correlationID string) ([]AuditEntry, error) {
	return s.cmd.Audit(correlationID)
}

// AuditPage returns up to limit audit entries after sequence number after,
// oldest first, and the cursor of the next page (0: none).
func (s *Service) AuditPage(after uint64, limit int) ([]AuditEntry, uint64, error) {
	return s.cmd.AuditPage(after, limit)
}

// authorize decides who may command what: only configured operators, only
// on configured lockers, only within their patterns.
func (s *Service) authorize(operator, cmd, bank, compartment string) error {
	d, ok := s.byTopic[locker.TopicRoot+"/"+bank]
	if !ok || d.cfg.Kind != KindLocker {
		return fmt.Errorf("unknown locker bank %q", bank)
	}
	for _, o := range s.cfg.Operators {
		if o.Username != operator {
			continue
		}
		patterns := o.MayOpen
		if cmd == locker.CmdOutOfService {
			patterns = o.MayManage
		}
		for _, p := range patterns {
			if cmd == locker.CmdRequestStatus {
				if ok, _ := path.Match(path.Dir(p), bank); ok {
					return nil
				}
				continue
			}
			if ok, _ := path.Match(p, bank+"/"+compartment); ok {
				return nil
			}
		}
		return fmt.Errorf("operator %s may not %s %s/%s", operator, cmd, bank, compartment)
	}
	return fmt.Errorf("unknown operator %q", operator)
}

func (s *Service) isOperator(user string) bool {
	for _, o := range s.cfg.Operators {
		if o.Username == user {
			return true
		}
	}
	return false
}

type commandPublisher struct{ s *Service }

func (p commandPublisher) PublishCommand(ctx context.Context, bank string, payload []byte) error {
	return p.s.tp().publish(ctx, locker.Topic(bank, locker.KindCmd), payload)
}

// handleLocker turns status and events into samples and closes commands.
func (s *Service) handleLocker(ctx context.Context, d *device, kind string, payload []byte, now time.Time) error {
	var out []sample.Sample
	switch kind {
	case locker.KindStatus:
		var st locker.Status
		if err := locker.Decode(payload, &st); err != nil {
			return s.lockerReject(d, err)
		}
		out = statusSamples(d, st, now)
	case locker.KindEvent:
		var ev locker.Event
		if err := locker.Decode(payload, &ev); err != nil {
			return s.lockerReject(d, err)
		}
		out = []sample.Sample{eventSample(d, ev, now)}
		d.count("events", 1)
	case locker.KindResult:
		var res locker.Result
		if err := locker.Decode(payload, &res); err != nil {
			return s.lockerReject(d, err)
		}
		if err := s.cmd.HandleResult(ctx, d.cfg.ID, res); err != nil {
			d.reject("bad_result", err.Error())
			s.stats.reject(d.cfg.ID, "bad_result")
		}
	case locker.KindCmd:
		return nil // our own command, seen by an external-mode subscription
	case locker.KindRequest:
		// External mode: the site broker does not tell who published, so
		// there is no operator to authorise.
		d.reject("request_unsupported", "operator requests need the embedded broker")
		s.stats.reject(d.cfg.ID, "request_unsupported")
		return nil
	default:
		d.reject("unknown_topic", "no locker topic "+kind)
		s.stats.reject(d.cfg.ID, "unknown_topic")
		return nil
	}
	out = append(out, d.seen(now, true)...)
	return s.append(ctx, d, out)
}

func (s *Service) lockerReject(d *device, err error) error {
	d.reject("invalid_message", err.Error())
	s.stats.reject(d.cfg.ID, "invalid_message")
	return nil
}

// FutureTolerance is how far ahead of the edge's clock a device time may
// be and still be trusted (docs/mqtt.md, SHARED-APIS #5).
const FutureTolerance = 5 * time.Minute

// eventTime prefers the controller's clock (a redelivered event then lands
// on the same InfluxDB point) unless it is implausible: outside
// [sample.MinTime, sample.MaxTime) or more than FutureTolerance ahead of
// the edge. While the edge's own clock is not set (a box without RTC boots
// at 1970 until NTP), a plausible device time is the better one and is
// kept, not judged against the edge's wrong clock.
func eventTime(t, now time.Time) time.Time {
	switch {
	case t.Before(sample.MinTime) || !t.Before(sample.MaxTime):
		return now
	case now.Before(sample.MinTime):
		return t
	case t.After(now.Add(FutureTolerance)):
		return now
	}
	return t
}

func eventSample(d *device, ev locker.Event, now time.Time) sample.Sample {
	extra := map[string]any{"event_id": ev.ID}
	msg := d.cfg.ID + ": " + ev.Type
	if ev.Compartment != "" {
		extra["compartment"] = ev.Compartment
		msg += " at " + ev.Compartment
	}
	if ev.Parcel != "" {
		extra["parcel"] = ev.Parcel
	}
	if ev.Detail != "" {
		msg += " (" + ev.Detail + ")"
	}
	// Two events of one kind in the same second of the controller's clock
	// are two points; a redelivery (same id) lands on the same one.
	return sample.Event(d.cfg.ID, "locker_"+ev.Type, locker.EventSeverity[ev.Type], msg, eventTime(ev.Time, now), extra).
		Distinct(ev.ID)
}

func statusSamples(d *device, st locker.Status, now time.Time) []sample.Sample {
	t := eventTime(st.Time, now)
	counts := map[string]int64{}
	out := make([]sample.Sample, 0, len(st.Compartments)+1)
	for _, c := range st.Compartments {
		counts[c.State]++
		out = append(out, sample.Sample{Measurement: "locker_compartment",
			Tags:   map[string]string{sample.TagDevice: d.cfg.ID, "compartment": c.ID},
			Fields: map[string]any{"state": c.State, "door_open": c.Door == "open"}, Time: t})
	}
	fields := map[string]any{"online": st.Online, "power": st.Power, "compartments": int64(len(st.Compartments))}
	for _, state := range []string{locker.StateEmpty, locker.StateOccupied, locker.StateOpen,
		locker.StateReserved, locker.StateOutOfService, locker.StateFault} {
		fields[state] = counts[state]
	}
	if st.TemperatureC != nil {
		fields["temperature_c"] = *st.TemperatureC
	}
	return append(out, sample.Sample{Measurement: "locker", Tags: map[string]string{sample.TagDevice: d.cfg.ID}, Fields: fields, Time: t})
}
