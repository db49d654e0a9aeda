package ocpp

import (
	"fmt"
	"strconv"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// txStart is a transaction start as either version reports it. txID is empty
// for OCPP 1.6, where the central system allocates it.
type txStart struct {
	charger   string
	connector int
	txID      string
	idTag     string
	meterWh   float64
	meterSeen bool // false: 2.0.1 Started without a register
	at        time.Time
}

// startTx opens a session. A start the charger repeats (its answer was lost,
// or it replays its offline queue) gets the same session back, not a new one;
// its events were queued with the session the first time (outbox.go).
// The tag's answer is Invalid for a charger whose registration is not
// Accepted (Pending, Rejected): it must not start charging yet.
func (s *Service) startTx(in txStart) (*Session, TagConfig, error) {
	// 2.0.1 may leave the EVSE out of Started; 1.6 connectors count from 1.
	if err := s.checkConnector(in.charger, in.connector, in.txID != ""); err != nil {
		return nil, TagConfig{}, err
	}
	in.at, _ = s.deviceTime(in.charger, in.at)
	ok, tag := s.tags.authorize(in.idTag)
	var out *Session
	var q queued
	err := s.do(in.charger, func(c *charger) error {
		// A configured charger whose boot the edge never saw (state wiped)
		// is not refused: its Authorize was just Accepted (see afterMessage).
		if c.Registered != "Accepted" && !(c.Registered == "" && s.isKnown(in.charger)) {
			tag.Status = TagInvalid
		}
		if dup := findStart(c, in); dup != nil {
			_, tag = s.concurrency(ok, tag, in.charger, dup.TransactionID, in.connector)
			out = dup
			return nil
		}
		_, tag = s.concurrency(ok, tag, in.charger, in.txID, in.connector)
		if in.txID == "" {
			id, err := s.store.nextTxID()
			if err != nil {
				return err
			}
			in.txID = id
		}
		ss := &Session{
			ChargerID: in.charger, Connector: in.connector, TransactionID: in.txID,
			IdTag: in.idTag, Group: tag.Group, Departure: tag.Departure,
			Start: in.at, MeterStartWh: in.meterWh, LastMeterWh: in.meterWh, Open: true,
			MeterStartPending: !in.meterSeen,
		}
		cs := c.connector(in.connector)
		saved, events := []*Session{ss}, []sample.Sample(nil)
		if old := cs.Session; old != nil && old.Open {
			// The charger forgot a session (it rebooted); a new start on the
			// connector means the old one ended without a stop we will ever see.
			closeSession(c, old, old.LastMeterWh, in.at, "ImplicitlyClosed")
			saved, events = append(saved, old), sessionSamples(old, "stopped")
		}
		cs.Session = ss
		c.open[ss.TransactionID] = ss
		var err error
		if q, err = s.store.commit(c, saved, append(events, sessionSamples(ss, "started")...)); err != nil {
			// Keep memory as bbolt has it: the charger will send the start again.
			delete(c.open, ss.TransactionID)
			cs.Session = nil
			return err
		}
		out = ss
		return nil
	})
	if err != nil {
		return nil, TagConfig{}, err
	}
	s.deliver(q)
	return out, tag, nil
}

func findStart(c *charger, in txStart) *Session {
	for _, ss := range c.open {
		if in.txID != "" && ss.TransactionID == in.txID {
			return ss
		}
		if in.txID == "" && ss.Connector == in.connector && ss.Start.Equal(in.at) && ss.MeterStartWh == in.meterWh {
			return ss
		}
	}
	return nil
}

// stopTx closes a session by id, also one opened before a restart. A stop
// for a session already closed is answered again without double counting.
func (s *Service) stopTx(id, txID string, meterWh float64, at time.Time, reason string) (*Session, error) {
	at, _ = s.deviceTime(id, at)
	var out *Session
	var q queued
	err := s.do(id, func(c *charger) error {
		ss := c.open[txID]
		if ss == nil {
			old, err := s.store.session(sessionKey(id, txID))
			if err != nil {
				return fmt.Errorf("ocpp: read session %s/%s: %w", id, txID, err)
			}
			if old != nil {
				out = old
				return nil
			}
			s.stats.inc(id, "unknown_transaction")
			q, err = s.store.commit(c, nil, []sample.Sample{event(id, -1, "unknown_transaction", sample.SeverityWarning,
				fmt.Sprintf("charger %s stopped unknown transaction %s", id, txID), at,
				map[string]any{"transaction_id": txID, "meter_stop_wh": meterWh}, txID)})
			return err
		}
		if reason == "" {
			reason = "Local"
		}
		if ss.MeterStartPending {
			ss.MeterStartWh, ss.MeterStartPending = meterWh, false
		}
		closeSession(c, ss, meterWh, at, reason)
		out = ss
		var err error
		q, err = s.store.commit(c, []*Session{ss}, sessionSamples(ss, "stopped"))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.deliver(q)
	return out, nil
}

func closeSession(c *charger, ss *Session, meterWh float64, at time.Time, reason string) {
	ss.Open, ss.Stop, ss.MeterStopWh, ss.StopReason = false, at, meterWh, reason
	if meterWh > ss.LastMeterWh {
		ss.LastMeterWh = meterWh
	}
	delete(c.open, ss.TransactionID)
	dropTxProfiles(c, ss)
	if cs := c.Connectors[ss.Connector]; cs != nil && cs.Session == ss {
		cs.Session = nil
	}
}

// authorizeTx records an idToken that arrives after the transaction started
// (2.0.1 E02: cable plugged in first, TransactionEvent Updated carries the
// token): the session gets the tag, its group and departure, so a delivery
// van is not treated as a stranger.
func (s *Service) authorizeTx(id, txID, idTag string, at time.Time) error {
	ok, tag := s.authorizeTag(idTag, id, txID, 0)
	if !ok {
		return nil // the id is told (idTokenInfo) and ends the transaction
	}
	at, _ = s.deviceTime(id, at)
	var q queued
	err := s.do(id, func(c *charger) error {
		ss := c.open[txID]
		if ss == nil || (ss.IdTag == idTag && ss.Group == tag.Group) {
			return nil
		}
		ss.IdTag, ss.Group, ss.Departure = idTag, tag.Group, tag.Departure
		smp := sessionSamples(ss, "authorized")
		for i := range smp {
			smp[i].Time = at
			smp[i] = smp[i].Distinct("session/" + ss.TransactionID + "/authorized/" + idTag)
		}
		var err error
		q, err = s.store.commit(c, []*Session{ss}, smp)
		return err
	})
	if err != nil {
		return err
	}
	s.deliver(q)
	return nil
}

func sessionSamples(ss *Session, state string) []sample.Sample {
	tags := map[string]string{sample.TagDevice: ss.ChargerID, "connector": strconv.Itoa(ss.Connector), "group": ss.Group}
	fields := map[string]any{"state": state, "transaction_id": ss.TransactionID, "meter_start_wh": ss.MeterStartWh}
	if ss.Group == GroupFleet {
		// Fleet tags are the owner's vans; public tags identify people and
		// stay in the office.
		fields["id_tag"] = ss.IdTag
		if ss.Departure != "" {
			fields["departure"] = ss.Departure
		}
	}
	at := ss.Start
	msg := fmt.Sprintf("session %s started on %s/%d (%s)", ss.TransactionID, ss.ChargerID, ss.Connector, ss.Group)
	switch state {
	case "stopped":
		at = ss.Stop
		fields["meter_stop_wh"] = ss.MeterStopWh
		fields["energy_wh"] = ss.EnergyWh()
		fields["duration_s"] = max(ss.Stop.Sub(ss.Start).Seconds(), 0)
		fields["stop_reason"] = ss.StopReason
		msg = fmt.Sprintf("session %s on %s/%d stopped (%s): %.0f Wh", ss.TransactionID, ss.ChargerID, ss.Connector, ss.StopReason, ss.EnergyWh())
	case "authorized":
		msg = fmt.Sprintf("session %s on %s/%d authorised after start (%s)", ss.TransactionID, ss.ChargerID, ss.Connector, ss.Group)
	}
	extra := map[string]any{"transaction_id": ss.TransactionID, "group": ss.Group}
	if state == "stopped" {
		extra["energy_wh"] = ss.EnergyWh()
		extra["stop_reason"] = ss.StopReason
	}
	key := "session/" + ss.TransactionID + "/" + state
	return []sample.Sample{
		sample.Sample{Measurement: "session", Tags: tags, Fields: fields, Time: at}.Distinct(key),
		event(ss.ChargerID, ss.Connector, "session_"+state, sample.SeverityInfo, msg, at, extra, ss.TransactionID),
	}
}

// sessionByID finds a session, open or closed.
func (s *Service) sessionByID(id, txID string) (*Session, error) {
	var out *Session
	err := s.do(id, func(c *charger) error {
		if ss := c.open[txID]; ss != nil {
			cp := *ss
			out = &cp
			return nil
		}
		var err error
		out, err = s.store.session(sessionKey(id, txID))
		return err
	})
	return out, err
}

func eventLimitRejected(chargerID string, connector int, l Limit, detail string, at time.Time) sample.Sample {
	return event(chargerID, connector, "limit_rejected", sample.SeverityWarning,
		fmt.Sprintf("charger %s connector %d rejected limit %.1f %s: %s", chargerID, connector, l.Value, l.Unit, detail),
		at, map[string]any{"limit": l.Value, "unit": l.Unit}, at.Format(time.RFC3339Nano))
}
