package alarms

import (
	"strings"
	"time"

	"github.com/polis-edge/polis/protocols/sample"
)

// OfficeOffline is the kind of the fleet's own alarm for a silent office.
const OfficeOffline = "office_offline"

// clearedBy lists, for an info event kind, the alarm kinds on the same
// device that it ends (besides "<kind>_cleared" ending "<kind>").
var clearedBy = map[string][]string{
	"device_ok":             {"device_stale", "device_unreachable", "device_misconfigured", "device_offline"},
	"device_online":         {"device_offline"},
	"locker_power_restored": {"locker_power_failure"},
	"locker_door_closed":    {"locker_door_left_open"},
}

// Event applies one office event: warning/critical raise (or update) an
// alarm; info events that end a condition clear it.
func (m *Manager) Event(p Place, ev sample.Sample) error {
	device := ev.Tags[sample.TagDevice]
	kind := ev.Tags["kind"]
	sev := strings.ToLower(str(ev.Fields["severity"]))
	detail := ""
	if kind == "inverter_event" {
		detail = str(ev.Fields["event"]) // one alarm per SunSpec event bit
	}
	t := ev.Time
	switch sev {
	case Warning, Critical:
		if active, ok := ev.Fields["active"].(bool); ok && !active {
			break // an "event ended" report that kept its severity
		}
		_, err := m.Raise(Condition{Place: p, Device: device, Kind: kind, Detail: detail, Severity: sev, Message: str(ev.Fields["message"]), Time: t})
		return err
	}
	ends := clearedBy[kind]
	if base, ok := strings.CutSuffix(kind, "_cleared"); ok {
		ends = append(ends, base)
	}
	if active, ok := ev.Fields["active"].(bool); ok && !active {
		ends = append(ends, kind)
	}
	for _, k := range ends {
		if _, _, err := m.ClearCondition(p, device, k, detail, t); err != nil {
			return err
		}
	}
	return nil
}

// Health applies the device health an office reports in its status: a
// device leaving ok raises device_<state> (critical for misconfigured), a
// device back to ok clears its device alarms.
func (m *Manager) Health(p Place, devices map[string]string, t time.Time) error {
	for dev, h := range devices {
		states := []string{"stale", "unreachable", "misconfigured", "offline"}
		for _, s := range states {
			if s == h {
				continue
			}
			if _, _, err := m.ClearCondition(p, dev, "device_"+s, "", t); err != nil {
				return err
			}
		}
		if h == "ok" || h == "" {
			continue
		}
		sev := Warning
		if h == "misconfigured" {
			sev = Critical
		}
		if _, err := m.Raise(Condition{Place: p, Device: dev, Kind: "device_" + h, Severity: sev,
			Message: dev + ": " + h, Time: t}); err != nil {
			return err
		}
	}
	return nil
}

// Silence raises or clears office_offline for an office.
func (m *Manager) Silence(p Place, silent bool, since time.Duration, now time.Time) error {
	if silent {
		m.mu.Lock()
		_, already := m.active[Alarm{Place: p, Kind: OfficeOffline}.key()]
		m.mu.Unlock()
		if already {
			return nil // checked every few seconds: one alarm, not a write per check
		}
		_, err := m.Raise(Condition{Place: p, Kind: OfficeOffline, Severity: Critical,
			Message: "no message from the office for " + since.Round(time.Second).String(), Time: now})
		return err
	}
	_, _, err := m.ClearCondition(p, "", OfficeOffline, "", now)
	return err
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
