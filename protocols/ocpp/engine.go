package ocpp

import (
	"fmt"
	"strconv"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// The engine is what both OCPP versions share: each version's handlers
// translate their messages into these calls. All of it runs under s.mu, and
// every state change is in bbolt before the charger gets its answer.

type bootInfo struct{ vendor, model, serial, firmware string }

func (s *Service) chargerLocked(id string) *charger {
	c := s.chargers[id]
	if c == nil {
		c = &charger{ID: id, Connectors: map[int]*ConnectorState{}, since: time.Now()}
		s.chargers[id] = c
	}
	c.lastSeen = time.Now()
	return c
}

func (s *Service) isKnown(id string) bool {
	_, ok := s.front.known[id]
	return ok
}

func (s *Service) onConnect(id, version string) {
	s.mu.Lock()
	c := s.chargerLocked(id)
	c.online, c.since, c.Version, c.configured = true, time.Now(), version, false
	s.mu.Unlock()
	s.log.Info("ocpp: charger connected", "charger", id, "version", version)
}

func (s *Service) onDisconnect(id string) {
	s.mu.Lock()
	if c := s.chargers[id]; c != nil && s.front.lookup(id) == nil {
		c.online, c.since = false, time.Now()
	}
	s.mu.Unlock()
	s.log.Info("ocpp: charger disconnected", "charger", id)
}

func (s *Service) boot(id string, info bootInfo) (string, error) {
	status := "Accepted"
	if !s.isKnown(id) {
		status = map[string]string{"pending": "Pending", "rejected": "Rejected", "accepted": "Accepted"}[s.cfg.UnknownChargerBoot]
	}
	now := time.Now()
	s.mu.Lock()
	c := s.chargerLocked(id)
	c.Vendor, c.Model, c.Serial, c.Firmware = info.vendor, info.model, info.serial, info.firmware
	c.Registered, c.BootAt, c.configured = status, now, false
	err := s.store.save(c)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	ev := sample.Event(id, "charger_boot", sample.SeverityInfo,
		fmt.Sprintf("charger %s booted (%s %s, fw %s): %s", id, info.vendor, info.model, info.firmware, status), now,
		map[string]any{"registration": status})
	if status != "Accepted" {
		ev = sample.Event(id, "unknown_charger", sample.SeverityWarning,
			fmt.Sprintf("unknown charger %s (%s %s) booted; answered %s", id, info.vendor, info.model, status), now,
			map[string]any{"registration": status})
	}
	return status, s.emit(ev)
}

// afterMessage runs the post-boot configuration once, on the first message
// after an accepted boot: by then the charger has our BootNotification answer,
// so our requests cannot overtake it.
func (s *Service) afterMessage(id string, configure func()) {
	s.mu.Lock()
	c := s.chargerLocked(id)
	run := c.Registered == "Accepted" && !c.configured
	c.configured = c.configured || run
	s.mu.Unlock()
	if run {
		go configure()
	}
}

func (s *Service) status(id string, connector int, status, errCode string, at time.Time) error {
	s.mu.Lock()
	c := s.chargerLocked(id)
	cs := c.connector(connector)
	prev := cs.Status
	if !at.Before(cs.StatusAt) {
		cs.Status, cs.ErrorCode, cs.StatusAt = status, errCode, at
	}
	err := s.store.save(c)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	out := []sample.Sample{{
		Measurement: "evse",
		Tags:        map[string]string{sample.TagDevice: id, "connector": strconv.Itoa(connector)},
		Fields:      map[string]any{"status": status, "error_code": errCode},
		Time:        at,
	}}
	if status == "Faulted" && prev != "Faulted" {
		out = append(out, sample.Event(id, "charger_fault", sample.SeverityWarning,
			fmt.Sprintf("charger %s connector %d faulted: %s", id, connector, errCode), at,
			map[string]any{"connector": int64(connector), "error_code": errCode}))
	}
	return s.emit(out...)
}

// meterSample is one timestamped set of readings, already in our field names
// and units (see docs/schema-ocpp.md).
type meterSample struct {
	at     time.Time
	fields map[string]float64
}

func (s *Service) meter(id string, connector int, txID string, samples []meterSample) error {
	s.mu.Lock()
	c := s.chargerLocked(id)
	cs := c.connector(connector)
	ss := cs.Session
	if txID != "" {
		if o := s.open[sessionKey(id, txID)]; o != nil {
			ss = o
		}
	}
	out := make([]sample.Sample, 0, len(samples))
	for _, m := range samples {
		fields := make(map[string]any, len(m.fields)+3)
		for k, v := range m.fields {
			fields[k] = v
		}
		if e, ok := m.fields["energy_wh"]; ok && ss != nil && ss.Open {
			if e > ss.LastMeterWh {
				ss.LastMeterWh = e
			}
			fields["session_energy_wh"] = max(e-ss.MeterStartWh, 0)
			fields["transaction_id"] = ss.TransactionID
		}
		// Samples replayed from a charger's offline queue keep their time
		// in telemetry but must not roll the live state back.
		if !m.at.Before(cs.MeterAt) {
			applyReading(cs, m)
		}
		out = append(out, sample.Sample{
			Measurement: "evse",
			Tags:        map[string]string{sample.TagDevice: id, "connector": strconv.Itoa(connector)},
			Fields:      fields, Time: m.at,
		})
	}
	var err error
	if ss != nil && ss.Open {
		err = s.store.save(c, ss)
	} else {
		err = s.store.save(c)
	}
	s.mu.Unlock()
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
