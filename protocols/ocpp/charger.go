package ocpp

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// charger is the service's record of one charge point. One goroutine owns it
// (see do): every message of the charger, every command outcome, runs there in
// turn, including the bbolt commit, so no service-wide lock is ever held
// across I/O and a slow disk delays one charger's answers, not everyone's.
// Readers (Snapshot, Devices, SetLimit) read the copy the owner publishes
// after each change.
type charger struct {
	ID         string                  `json:"id"`
	Version    string                  `json:"version"`
	Vendor     string                  `json:"vendor"`
	Model      string                  `json:"model"`
	Serial     string                  `json:"serial,omitempty"`
	Firmware   string                  `json:"firmware,omitempty"`
	Registered string                  `json:"registered"` // Accepted, Pending, Rejected
	BootAt     time.Time               `json:"boot_at"`
	Connectors map[int]*ConnectorState `json:"connectors"`
	// DefaultLimit is the fail-safe profile SetDefaultLimit installed; it is
	// sent again after every boot.
	DefaultLimit *LimitState `json:"default_limit,omitempty"`
	// Profiles are the charging profiles the charger accepted from us
	// (profiles.go), for the composite schedule.
	Profiles []ChargingProfile `json:"profiles,omitempty"`

	// Owned by the owner goroutine, not persisted.
	online     bool
	since      time.Time
	configured bool // post-boot configuration sent
	bootAsked  bool // TriggerMessage BootNotification sent (no boot on record)
	// profilesDirty: Profiles changed since the last commit (profiles.go).
	profilesDirty bool
	open          map[string]*Session // open sessions by transaction id
	problems      map[string]string   // active NotifyEvent problems: component.variable → tech info

	inbox chan func()
	view  atomic.Pointer[chargerView]
}

// chargerView is the copy of a charger that readers get.
type chargerView struct {
	id, version, registered string
	online                  bool
	since                   time.Time
	connectors              []ConnectorState // sorted, deep copies
	problems                []string
	defaultLimit            *LimitState
	profiles                []ChargingProfile
}

func newCharger(id string) *charger {
	return &charger{ID: id, Connectors: map[int]*ConnectorState{}, open: map[string]*Session{},
		since: time.Now()}
}

func (c *charger) connector(n int) *ConnectorState {
	cs := c.Connectors[n]
	if cs == nil {
		cs = &ConnectorState{ChargerID: c.ID, Connector: n, Status: "Unknown", SoCPct: -1}
		c.Connectors[n] = cs
	}
	return cs
}

// publish stores a deep copy for readers; only the owner calls it.
func (c *charger) publish() {
	v := &chargerView{id: c.ID, version: c.Version, registered: c.Registered, online: c.online,
		since: c.since}
	for n := 0; n <= maxConnectors; n++ {
		cs := c.Connectors[n]
		if cs == nil {
			continue
		}
		cp := *cs
		if cs.Session != nil {
			ss := *cs.Session
			cp.Session = &ss
		}
		if cs.Requested != nil {
			r := *cs.Requested
			cp.Requested = &r
		}
		v.connectors = append(v.connectors, cp)
	}
	for what, info := range c.problems {
		v.problems = append(v.problems, strings.TrimSpace(what+" "+info))
	}
	sort.Strings(v.problems)
	if c.DefaultLimit != nil {
		d := *c.DefaultLimit
		v.defaultLimit = &d
	}
	v.profiles = slices.Clone(c.Profiles)
	c.view.Store(v)
}

// maxConnectors bounds connector/EVSE numbers (config allows 1-16).
const maxConnectors = 16

var errStopped = errors.New("ocpp: service stopped")

// charger returns the record of id, creating it (and its owner) on first use.
func (s *Service) charger(id string) *charger {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chargers[id]
	if c == nil {
		c = newCharger(id)
		c.publish()
		s.chargers[id] = c
	}
	if c.inbox == nil {
		c.inbox = make(chan func())
		go s.own(c)
	}
	return c
}

// own is the charger's owner goroutine.
func (s *Service) own(c *charger) {
	for {
		select {
		case f := <-c.inbox:
			f()
		case <-s.quit:
			return
		}
	}
}

// do runs f on the charger's owner and returns its error. f must not call
// do for the same charger, nor wait for the charger's answer to a call.
func (s *Service) do(id string, f func(c *charger) error) error {
	c := s.charger(id)
	done := make(chan error, 1)
	select {
	case c.inbox <- func() {
		err := f(c)
		c.publish() // before the caller goes on: it may read the view next
		done <- err
	}:
	case <-s.quit:
		return errStopped
	}
	return <-done
}

// view returns the published copy of a charger, nil if never seen.
func (s *Service) view(id string) *chargerView {
	s.mu.Lock()
	c := s.chargers[id]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.view.Load()
}

func (v *chargerView) connector(n int) *ConnectorState {
	for i := range v.connectors {
		if v.connectors[i].Connector == n {
			return &v.connectors[i]
		}
	}
	return nil
}
