// Package alarms gives the fleet's alarms a lifecycle, as ThingsBoard does:
// each alarm is active or cleared, and unacknowledged or acknowledged (by
// whom, when, with a comment). Alarms are raised by office events with
// severity warning/critical, by device health leaving ok and by the fleet
// itself (office_offline); they clear when the condition ends or by an
// operator. Every alarm is kept in the fleet's state store (history by time,
// pruned by age); the open ones are also held in memory for the dashboard.
package alarms

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/polis-edge/polis/fleet/state"
)

const bucket = "alarms"

// Severities, most urgent first.
const (
	Critical = "critical"
	Warning  = "warning"
)

// Place says where an alarm is: the office and its registry region/province,
// which decide who may see and touch it.
type Place struct {
	Office   string `json:"office"`
	Region   string `json:"region,omitempty"`
	Province string `json:"province,omitempty"`
}

// Alarm is one alarm and its lifecycle.
type Alarm struct {
	ID string `json:"id"`
	Place
	Device   string    `json:"device,omitempty"`
	Kind     string    `json:"kind"`
	Detail   string    `json:"detail,omitempty"` // distinguishes alarms of one kind (e.g. the SunSpec event name)
	Severity string    `json:"severity"`
	Message  string    `json:"message,omitempty"`
	Raised   time.Time `json:"raised"`
	Updated  time.Time `json:"updated"` // last time the condition was reported again
	Count    int       `json:"count"`   // how often it was reported while active

	Active    bool      `json:"active"`
	Cleared   time.Time `json:"cleared,omitzero"`
	ClearedBy string    `json:"cleared_by,omitempty"` // "auto" or the user

	Acked      bool      `json:"acknowledged"`
	AckedBy    string    `json:"acknowledged_by,omitempty"`
	AckedAt    time.Time `json:"acknowledged_at,omitzero"`
	AckComment string    `json:"comment,omitempty"`
}

// Open reports whether the alarm still needs attention: active, or cleared
// but not yet acknowledged.
func (a Alarm) Open() bool { return a.Active || !a.Acked }

func (a Alarm) key() string {
	return a.Office + "\x00" + a.Device + "\x00" + a.Kind + "\x00" + a.Detail
}

// SeverityRank orders severities for sorting: critical first.
func SeverityRank(s string) int {
	switch s {
	case Critical:
		return 0
	case Warning:
		return 1
	}
	return 2
}

var (
	ErrNotFound = errors.New("no such open alarm")
	ErrState    = errors.New("alarm is not in a state for that")
)

// Notifier is told about every change (the webhooks).
type Notifier interface {
	Notify(event string, a Alarm)
}

// Manager owns the alarms. It is safe for concurrent use; the store is
// written outside the lock, so a slow disk delays only the caller.
type Manager struct {
	st     state.Store
	log    *slog.Logger
	notify Notifier

	mu     sync.Mutex
	active map[string]string // key -> id of the active alarm
	open   map[string]Alarm  // id -> alarm, for open alarms
}

// New loads the open alarms from st.
func New(st state.Store, notify Notifier, log *slog.Logger) (*Manager, error) {
	m := &Manager{st: st, log: log, notify: notify, active: map[string]string{}, open: map[string]Alarm{}}
	err := st.Scan(bucket, "", "", func(_ string, v []byte) error {
		var a Alarm
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("alarm record: %w", err)
		}
		if a.Open() {
			m.open[a.ID] = a
			if a.Active {
				m.active[a.key()] = a.ID
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load alarms: %w", err)
	}
	return m, nil
}

// Condition is a reported alarm condition.
type Condition struct {
	Place
	Device, Kind, Detail, Severity, Message string
	Time                                    time.Time
}

// Raise opens an alarm for c, or updates the active one with the same
// office, device, kind and detail (a flapping sensor stays one alarm).
func (m *Manager) Raise(c Condition) (Alarm, error) {
	if c.Time.IsZero() {
		c.Time = time.Now().UTC()
	}
	m.mu.Lock()
	probe := Alarm{Place: c.Place, Device: c.Device, Kind: c.Kind, Detail: c.Detail}
	event := "raised"
	var a Alarm
	if id, ok := m.active[probe.key()]; ok {
		a = m.open[id]
		if c.Time.Before(a.Updated) {
			m.mu.Unlock()
			return a, nil // a late, older redelivery: nothing new
		}
		event = "updated"
		if SeverityRank(c.Severity) < SeverityRank(a.Severity) {
			// Worse than what was acknowledged: it needs a look again.
			a.Acked, a.AckedBy, a.AckedAt, a.AckComment = false, "", time.Time{}, ""
			event = "escalated"
		}
		a.Severity, a.Message, a.Updated = c.Severity, c.Message, c.Time
		a.Count++
	} else {
		a = Alarm{ID: state.TimeKey(c.Time), Place: c.Place, Device: c.Device, Kind: c.Kind, Detail: c.Detail,
			Severity: c.Severity, Message: c.Message, Raised: c.Time, Updated: c.Time, Count: 1, Active: true}
		m.active[a.key()] = a.ID
	}
	m.open[a.ID] = a
	m.mu.Unlock()
	return a, m.save(event, a)
}

// ClearCondition clears the active alarm of office/device/kind/detail, if
// any, because the condition ended.
func (m *Manager) ClearCondition(p Place, device, kind, detail string, t time.Time) (Alarm, bool, error) {
	m.mu.Lock()
	probe := Alarm{Place: p, Device: device, Kind: kind, Detail: detail}
	id, ok := m.active[probe.key()]
	if !ok {
		m.mu.Unlock()
		return Alarm{}, false, nil
	}
	a := m.clearLocked(id, "auto", t)
	m.mu.Unlock()
	return a, true, m.save("cleared", a)
}

func (m *Manager) clearLocked(id, by string, t time.Time) Alarm {
	a := m.open[id]
	delete(m.active, a.key())
	a.Active, a.Cleared, a.ClearedBy = false, t, by
	if a.Acked {
		delete(m.open, id)
	} else {
		m.open[id] = a
	}
	return a
}

// Clear is an operator clearing an alarm by hand.
func (m *Manager) Clear(id, by string) (Alarm, error) {
	m.mu.Lock()
	a, ok := m.open[id]
	if !ok {
		m.mu.Unlock()
		return Alarm{}, ErrNotFound
	}
	if !a.Active {
		m.mu.Unlock()
		return a, fmt.Errorf("%w: already cleared", ErrState)
	}
	a = m.clearLocked(id, by, time.Now().UTC())
	m.mu.Unlock()
	return a, m.save("cleared", a)
}

// Ack acknowledges an open alarm.
func (m *Manager) Ack(id, by, comment string) (Alarm, error) {
	m.mu.Lock()
	a, ok := m.open[id]
	if !ok {
		m.mu.Unlock()
		return Alarm{}, ErrNotFound
	}
	if a.Acked {
		m.mu.Unlock()
		return a, fmt.Errorf("%w: already acknowledged by %s", ErrState, a.AckedBy)
	}
	a.Acked, a.AckedBy, a.AckedAt, a.AckComment = true, by, time.Now().UTC(), comment
	if a.Active {
		m.open[id] = a
	} else {
		delete(m.open, id)
	}
	m.mu.Unlock()
	return a, m.save("acknowledged", a)
}

// Get returns an open alarm.
func (m *Manager) Get(id string) (Alarm, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.open[id]
	if ok {
		return a, true
	}
	return Alarm{}, false
}

func (m *Manager) save(event string, a Alarm) error {
	b, _ := json.Marshal(a)
	if err := m.st.Put(bucket, a.ID, b); err != nil {
		m.log.Error("alarm not stored", "err", err, "id", a.ID, "office", a.Office, "kind", a.Kind)
		return fmt.Errorf("store alarm: %w", err)
	}
	if m.notify != nil {
		m.notify.Notify(event, a)
	}
	return nil
}

// Prune deletes alarms raised before now-keep that are no longer open.
func (m *Manager) Prune(keep time.Duration) (int, error) {
	limit := state.TimeFrom(time.Now().Add(-keep))
	var old []string
	err := m.st.Scan(bucket, "", "", func(k string, v []byte) error {
		if k >= limit {
			return state.ErrStop
		}
		var a Alarm
		if json.Unmarshal(v, &a) == nil && a.Open() {
			return nil // an old alarm still open stays until someone handles it
		}
		old = append(old, k)
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range old {
		if err := m.st.Delete(bucket, k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}
