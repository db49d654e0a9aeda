package alarms

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/polis-edge/polis/fleet/state"
)

// Query selects alarms; zero fields match everything.
type Query struct {
	Office, Region, Province string
	Severity                 string
	// Allowed is the caller's scope check on the alarm's place.
	Allowed func(Place) bool
	// Sort: "severity" (critical first, then oldest first) or "age"
	// (oldest first); default newest first.
	Sort string
	// History only: raised within [From, To].
	From, To time.Time
	Limit    int // history: newest Limit (0 = 1000)
}

func (q Query) match(a Alarm) bool {
	return (q.Office == "" || q.Office == a.Office) &&
		(q.Region == "" || strings.EqualFold(q.Region, a.Region)) &&
		(q.Province == "" || strings.EqualFold(q.Province, a.Province)) &&
		(q.Severity == "" || q.Severity == a.Severity) &&
		(q.Allowed == nil || q.Allowed(a.Place))
}

// Open returns the open alarms matching q, sorted as q asks.
func (m *Manager) Open(q Query) []Alarm {
	m.mu.Lock()
	out := make([]Alarm, 0, len(m.open))
	for _, a := range m.open {
		if q.match(a) {
			out = append(out, a)
		}
	}
	m.mu.Unlock()
	sortAlarms(out, q.Sort)
	return out
}

func sortAlarms(out []Alarm, by string) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch by {
		case "severity":
			if ra, rb := SeverityRank(a.Severity), SeverityRank(b.Severity); ra != rb {
				return ra < rb
			}
			return a.Raised.Before(b.Raised)
		case "age":
			return a.Raised.Before(b.Raised)
		}
		return a.Raised.After(b.Raised)
	})
}

// History returns every alarm (open or closed) raised in q's time range,
// newest first, from the store.
func (m *Manager) History(q Query) ([]Alarm, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var out []Alarm
	err := m.st.Scan(bucket, "", state.TimeFrom(q.From), func(_ string, v []byte) error {
		var a Alarm
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("alarm record: %w", err)
		}
		if !q.To.IsZero() && a.Raised.After(q.To) {
			return state.ErrStop
		}
		if q.match(a) {
			out = append(out, a)
			if len(out) > q.Limit {
				out = out[1:]
			}
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if out == nil {
		out = []Alarm{}
	}
	return out, err
}

// Counts are open alarms by severity.
type Counts struct {
	Critical int `json:"critical"`
	Warning  int `json:"warning"`
	Other    int `json:"other"`
	Total    int `json:"total"`
}

func (c *Counts) add(sev string) {
	switch sev {
	case Critical:
		c.Critical++
	case Warning:
		c.Warning++
	default:
		c.Other++
	}
	c.Total++
}

// CountsBy returns open alarms by severity per key(place) (e.g. region,
// province or office) for the places allowed.
func (m *Manager) CountsBy(key func(Place) string, allowed func(Place) bool) map[string]Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Counts{}
	for _, a := range m.open {
		if allowed != nil && !allowed(a.Place) {
			continue
		}
		k := key(a.Place)
		c := out[k]
		c.add(a.Severity)
		out[k] = c
	}
	return out
}

// OpenCount is the number of open alarms.
func (m *Manager) OpenCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.open)
}
