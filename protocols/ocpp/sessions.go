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
	at        time.Time
}

// startTx opens a session. A start the charger repeats (its answer was lost,
// or it replays its offline queue) gets the same session back, not a new one.
func (s *Service) startTx(in txStart) (*Session, bool, error) {
	ok, tag := s.tags.authorize(in.idTag)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chargerLocked(in.charger)
	if c.Registered != "Accepted" {
		ok = false
	}
	if dup := s.findStartLocked(in); dup != nil {
		return dup, ok, nil
	}
	if in.txID == "" {
		id, err := s.store.nextTxID()
		if err != nil {
			return nil, false, err
		}
		in.txID = id
	}
	ss := &Session{
		ChargerID: in.charger, Connector: in.connector, TransactionID: in.txID,
		IdTag: in.idTag, Group: tag.Group, Departure: tag.Departure,
		Start: in.at, MeterStartWh: in.meterWh, LastMeterWh: in.meterWh, Open: true,
	}
	cs := c.connector(in.connector)
	saved, out := []*Session{ss}, []sample.Sample(nil)
	if old := cs.Session; old != nil && old.Open {
		// The charger forgot a session (it rebooted); a new start on the
		// connector means the old one ended without a stop we will ever see.
		s.closeLocked(old, old.LastMeterWh, in.at, "ImplicitlyClosed")
		saved, out = append(saved, old), sessionSamples(old, "stopped")
	}
	cs.Session = ss
	s.open[ss.key()] = ss
	if err := s.store.save(c, saved...); err != nil {
		return nil, false, err
	}
	if err := s.emitLocked(append(out, sessionSamples(ss, "started")...)...); err != nil {
		return nil, false, err
	}
	return ss, ok, nil
}

func (s *Service) findStartLocked(in txStart) *Session {
	for _, ss := range s.open {
		if ss.ChargerID != in.charger {
			continue
		}
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
func (s *Service) stopTx(charger, txID string, meterWh float64, at time.Time, reason string) (*Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sessionKey(charger, txID)
	ss := s.open[key]
	if ss == nil {
		old, err := s.store.session(key)
		if err != nil {
			return nil, fmt.Errorf("ocpp: read session %s: %w", key, err)
		}
		if old == nil {
			s.stats.inc(charger, "unknown_transaction")
			return nil, s.emitLocked(sample.Event(charger, "unknown_transaction", sample.SeverityWarning,
				fmt.Sprintf("charger %s stopped unknown transaction %s", charger, txID), at,
				map[string]any{"transaction_id": txID, "meter_stop_wh": meterWh}))
		}
		return old, nil
	}
	if reason == "" {
		reason = "Local"
	}
	s.closeLocked(ss, meterWh, at, reason)
	c := s.chargerLocked(charger)
	if err := s.store.save(c, ss); err != nil {
		return nil, err
	}
	return ss, s.emitLocked(sessionSamples(ss, "stopped")...)
}

func (s *Service) closeLocked(ss *Session, meterWh float64, at time.Time, reason string) {
	ss.Open, ss.Stop, ss.MeterStopWh, ss.StopReason = false, at, meterWh, reason
	if meterWh > ss.LastMeterWh {
		ss.LastMeterWh = meterWh
	}
	delete(s.open, ss.key())
	if c := s.chargers[ss.ChargerID]; c != nil {
		if cs := c.Connectors[ss.Connector]; cs != nil && cs.Session == ss {
			cs.Session = nil
		}
	}
}

// emitLocked is emit while holding s.mu: sessions must reach the buffer in
// the order they happened, so the lock is kept across the append.
func (s *Service) emitLocked(samples ...sample.Sample) error { return s.emit(samples...) }

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
	if state == "stopped" {
		at = ss.Stop
		fields["meter_stop_wh"] = ss.MeterStopWh
		fields["energy_wh"] = ss.EnergyWh()
		fields["duration_s"] = max(ss.Stop.Sub(ss.Start).Seconds(), 0)
		fields["stop_reason"] = ss.StopReason
		msg = fmt.Sprintf("session %s on %s/%d stopped (%s): %.0f Wh", ss.TransactionID, ss.ChargerID, ss.Connector, ss.StopReason, ss.EnergyWh())
	}
	extra := map[string]any{"connector": int64(ss.Connector), "transaction_id": ss.TransactionID, "group": ss.Group}
	if state == "stopped" {
		extra["energy_wh"] = ss.EnergyWh()
		extra["stop_reason"] = ss.StopReason
	}
	return []sample.Sample{
		{Measurement: "session", Tags: tags, Fields: fields, Time: at},
		sample.Event(ss.ChargerID, "session_"+state, sample.SeverityInfo, msg, at, extra),
	}
}

func (s *Service) sessionByID(charger, txID string) (*Session, error) {
	s.mu.Lock()
	ss := s.open[sessionKey(charger, txID)]
	s.mu.Unlock()
	if ss != nil {
		return ss, nil
	}
	return s.store.session(sessionKey(charger, txID))
}

func eventLimitRejected(chargerID string, connector int, l Limit, detail string) sample.Sample {
	return sample.Event(chargerID, "limit_rejected", sample.SeverityWarning,
		fmt.Sprintf("charger %s connector %d rejected limit %.1f %s: %s", chargerID, connector, l.Value, l.Unit, detail),
		time.Now(), map[string]any{"connector": int64(connector), "limit": l.Value, "unit": l.Unit})
}
