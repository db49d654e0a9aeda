package ocpp

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocppj"
	"github.com/polis-edge/polis/protocols/sample"
)

// The engine is what both OCPP versions share: each version's handlers
// translate their messages into these calls. State changes run on the
// charger's owner (do) and are in bbolt, with the events that report them
// (outbox.go), before the charger gets its answer; telemetry goes to the
// buffer afterwards, outside any owner, and a refusal makes the charger
// send it again.

type bootInfo struct{ vendor, model, serial, firmware string }

func (s *Service) isKnown(id string) bool {
	_, ok := s.front.known[id]
	return ok
}

// connectors is how many connectors (1.6) or EVSEs (2.0.1) id may report.
func (s *Service) connectors(id string) int {
	if k, ok := s.front.known[id]; ok {
		return k.Connectors
	}
	return maxConnectors
}

// checkConnector refuses a connector/EVSE number the charger does not have,
// with the CALLERROR the RPC framework defines for a value out of range.
func (s *Service) checkConnector(id string, n int, allowZero bool) error {
	if (n == 0 && allowZero) || (n >= 1 && n <= s.connectors(id)) {
		return nil
	}
	s.stats.inc(id, "rejected_connector")
	return ocpp.NewError(ocppj.PropertyConstraintViolation,
		fmt.Sprintf("connector/EVSE %d: charger %s has %d", n, id, s.connectors(id)), "")
}

// deviceTime is a charger's timestamp and whether the edge can trust it: not
// before sample.MinTime and not further in the future than clock_tolerance
// (SHARED-APIS #5). An untrusted time is replaced by the edge's clock and
// counted: the reading is kept in telemetry at the time it arrived, but it
// does not enter live state, which the rules read. A charger at 2099 used to
// freeze live state (every later reading looked older) and land in InfluxDB
// at 2099.
func (s *Service) deviceTime(id string, t time.Time) (time.Time, bool) {
	now := time.Now()
	if t.IsZero() {
		return now, true // no time given: the edge's is the right one
	}
	if t.Before(sample.MinTime) || t.After(now.Add(s.cfg.ClockTolerance)) {
		s.stats.inc(id, "untrusted_timestamp")
		return now, false
	}
	return t, true
}

// forgetFutureTimes clears live-state times a charger put in the future
// before this check existed, so the next real reading applies.
func (s *Service) forgetFutureTimes(id string, cs *ConnectorState) {
	limit := time.Now().Add(s.cfg.ClockTolerance)
	if cs.MeterAt.After(limit) {
		cs.MeterAt = time.Time{}
		s.stats.inc(id, "untrusted_timestamp")
	}
	if cs.StatusAt.After(limit) {
		cs.StatusAt = time.Time{}
		s.stats.inc(id, "untrusted_timestamp")
	}
}

// event is an OCPP event sample: connector (>= 0) as a bounded tag, and a
// key naming the event so simultaneous events stay apart and a redelivery
// lands on the same point (sample.Distinct).
func event(id string, connector int, kind, severity, msg string, at time.Time, extra map[string]any, key string) sample.Sample {
	ev := sample.Event(id, kind, severity, msg, at, extra)
	if connector >= 0 {
		ev.Tags["connector"] = strconv.Itoa(connector)
	}
	return ev.Distinct(kind + "/" + key)
}

func (s *Service) onConnect(id, version string) {
	_ = s.do(id, func(c *charger) error {
		c.online, c.since, c.Version, c.configured = true, time.Now(), version, false
		return nil
	})
	s.log.Info("ocpp: charger connected", "charger", id, "version", version)
}

func (s *Service) onDisconnect(id string) {
	_ = s.do(id, func(c *charger) error {
		if s.front.lookup(id) == nil {
			c.online, c.since = false, time.Now()
		}
		return nil
	})
	s.log.Info("ocpp: charger disconnected", "charger", id)
}

func (s *Service) boot(id string, info bootInfo) (string, error) {
	status := "Accepted"
	if !s.isKnown(id) {
		status = map[string]string{"pending": "Pending", "rejected": "Rejected", "accepted": "Accepted"}[s.cfg.UnknownChargerBoot]
	}
	now := time.Now()
	var q queued
	err := s.do(id, func(c *charger) error {
		c.Vendor, c.Model, c.Serial, c.Firmware = info.vendor, info.model, info.serial, info.firmware
		c.Registered, c.BootAt, c.configured = status, now, false
		key := now.Format(time.RFC3339Nano)
		ev := event(id, -1, "charger_boot", sample.SeverityInfo,
			fmt.Sprintf("charger %s booted (%s %s, fw %s): %s", id, info.vendor, info.model, info.firmware, status), now,
			map[string]any{"registration": status}, key)
		if status != "Accepted" {
			ev = event(id, -1, "unknown_charger", sample.SeverityWarning,
				fmt.Sprintf("unknown charger %s (%s %s) booted; answered %s", id, info.vendor, info.model, status), now,
				map[string]any{"registration": status}, key)
		}
		var err error
		q, err = s.store.commit(c, nil, []sample.Sample{ev})
		return err
	})
	if err != nil {
		return "", err
	}
	s.deliver(q)
	return status, nil
}

// afterMessage runs the post-boot configuration once, on the first message
// after an accepted boot: by then the charger has our BootNotification answer,
// so our requests cannot overtake it.
func (s *Service) afterMessage(id string, configure func()) {
	run, askBoot := false, false
	_ = s.do(id, func(c *charger) error {
		run = c.Registered == "Accepted" && !c.configured
		c.configured = c.configured || run
		// Connected and authenticated, but no boot on record (the edge's
		// state was wiped): ask for one instead of treating it as unknown.
		askBoot = c.Registered == "" && !c.bootAsked
		c.bootAsked = c.bootAsked || askBoot
		return nil
	})
	if run {
		go configure()
	}
	if askBoot {
		go func() {
			st, err := s.Trigger(context.Background(), id, 0, "BootNotification")
			s.log.Info("ocpp: no boot on record, asked for one", "charger", id, "status", st, "err", err)
		}()
	}
}

func (s *Service) status(id string, connector int, status, errCode string, at time.Time) error {
	if err := s.checkConnector(id, connector, true); err != nil {
		return err
	}
	at, trusted := s.deviceTime(id, at)
	var q queued
	err := s.do(id, func(c *charger) error {
		cs := c.connector(connector)
		prev := cs.Status
		if trusted && !at.Before(cs.StatusAt) {
			cs.Status, cs.ErrorCode, cs.StatusAt = status, errCode, at
		}
		var events []sample.Sample
		if status == "Faulted" && prev != "Faulted" {
			events = append(events, event(id, connector, "charger_fault", sample.SeverityWarning,
				fmt.Sprintf("charger %s connector %d faulted: %s", id, connector, errCode), at,
				map[string]any{"error_code": errCode}, at.Format(time.RFC3339Nano)+"/"+errCode))
		}
		var err error
		q, err = s.store.commit(c, nil, events)
		return err
	})
	if err != nil {
		return err
	}
	s.deliver(q)
	return s.emit(sample.Sample{
		Measurement: "evse",
		Tags:        map[string]string{sample.TagDevice: id, "connector": strconv.Itoa(connector)},
		Fields:      map[string]any{"status": status, "error_code": errCode},
		Time:        at,
	})
}

// meterSample is one timestamped set of readings, already in our field names
// and units (see docs/influxdb-schema.md).
type meterSample struct {
	at        time.Time
	untrusted bool // at is the edge's clock, the charger's was implausible
	fields    map[string]float64
}

func (s *Service) meter(id string, connector int, txID string, samples []meterSample) error {
	if err := s.checkConnector(id, connector, true); err != nil {
		return err
	}
	for i := range samples {
		var ok bool
		samples[i].at, ok = s.deviceTime(id, samples[i].at)
		samples[i].untrusted = !ok
	}
	var out []sample.Sample
	err := s.do(id, func(c *charger) error {
		cs := c.connector(connector)
		ss := cs.Session
		if o := c.open[txID]; txID != "" && o != nil {
			ss = o
		}
		out = make([]sample.Sample, 0, len(samples))
		for _, m := range samples {
			fields := make(map[string]any, len(m.fields)+3)
			for k, v := range m.fields {
				fields[k] = v
			}
			if e, ok := m.fields["energy_wh"]; ok && ss != nil && ss.Open {
				if ss.MeterStartPending {
					// 2.0.1 Started without a register: the first one seen
					// in the transaction is its start.
					ss.MeterStartWh, ss.LastMeterWh, ss.MeterStartPending = e, e, false
				}
				if e > ss.LastMeterWh {
					ss.LastMeterWh = e
				}
				fields["session_energy_wh"] = max(e-ss.MeterStartWh, 0)
				fields["transaction_id"] = ss.TransactionID
			}
			// Samples replayed from a charger's offline queue keep their time
			// in telemetry but must not roll the live state back.
			if !m.untrusted && !m.at.Before(cs.MeterAt) {
				applyReading(cs, m)
			}
			out = append(out, sample.Sample{
				Measurement: "evse",
				Tags:        map[string]string{sample.TagDevice: id, "connector": strconv.Itoa(connector)},
				Fields:      fields, Time: m.at,
			})
		}
		var sessions []*Session
		if ss != nil && ss.Open {
			sessions = append(sessions, ss)
		}
		_, err := s.store.commit(c, sessions, nil)
		return err
	})
	if err != nil {
		return err
	}
	return s.emit(out...)
}

func applyReading(cs *ConnectorState, m meterSample) {
	cs.MeterAt = m.at
	set := func(key string, dst *float64) {
		if v, ok := m.fields[key]; ok {
			*dst = v
		}
	}
	set("energy_wh", &cs.EnergyWh)
	set("power_w", &cs.PowerW)
	set("offered_a", &cs.OfferedA)
	set("soc_pct", &cs.SoCPct)
	for i, ph := range []string{"l1", "l2", "l3"} {
		set("current_"+ph+"_a", &cs.CurrentA[i])
		set("voltage_"+ph+"_v", &cs.VoltageV[i])
	}
}
