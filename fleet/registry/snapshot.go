package registry

import (
	"maps"
	"sort"
	"strings"

	"github.com/polis-edge/polis/fleet/alarms"
)

// Filter selects offices for the API; empty fields match everything.
type Filter struct {
	Region, Province string
	Online           *bool
	// Query matches id, name or comune (case-insensitive substring).
	Query string
	// Allowed is the caller's scope.
	Allowed func(alarms.Place) bool
}

func (f Filter) match(o *Office) bool {
	return (f.Region == "" || strings.EqualFold(f.Region, o.Region)) &&
		(f.Province == "" || strings.EqualFold(f.Province, o.Province)) &&
		(f.Online == nil || *f.Online == o.Online) &&
		(f.Query == "" || containsFold(o.ID, f.Query) || containsFold(o.Name, f.Query) || containsFold(o.Comune, f.Query)) &&
		(f.Allowed == nil || f.Allowed(o.Place()))
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// Offices returns copies of the matching offices sorted by id.
func (r *Registry) Offices(f Filter) []Office {
	r.mu.RLock()
	out := make([]Office, 0, len(r.offices))
	for _, o := range r.offices {
		if f.match(o) {
			out = append(out, clone(o))
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	r.withAlarms(out)
	return out
}

// withAlarms fills each office's open alarms, most severe first.
func (r *Registry) withAlarms(out []Office) {
	if len(out) == 0 {
		return
	}
	byOffice := map[string][]alarms.Alarm{}
	q := alarms.Query{Sort: "severity"}
	if len(out) == 1 {
		q.Office = out[0].ID
	}
	for _, a := range r.alarms.Open(q) {
		byOffice[a.Office] = append(byOffice[a.Office], a)
	}
	for i := range out {
		if l := byOffice[out[i].ID]; len(l) > 0 {
			out[i].OpenAlarms = l[:min(len(l), r.keep)]
		}
	}
}

// Office returns a copy of one office.
func (r *Registry) Office(id string) (Office, bool) {
	r.mu.RLock()
	o, ok := r.offices[id]
	if !ok {
		r.mu.RUnlock()
		return Office{}, false
	}
	c := clone(o)
	r.mu.RUnlock()
	out := []Office{c}
	r.withAlarms(out)
	return out[0], true
}

// Counts summarises the fleet for metrics and self-telemetry.
type Counts struct {
	Offices    int `json:"total"`
	Registered int `json:"registered"`
	Online     int `json:"online"`
	OpenAlarms int `json:"open_alarms"`
}

func (r *Registry) Counts() Counts {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var c Counts
	for _, o := range r.offices {
		c.Offices++
		if o.Registered {
			c.Registered++
		}
		if o.Online {
			c.Online++
		}
	}
	c.OpenAlarms = r.alarms.OpenCount()
	return c
}

func clone(o *Office) Office {
	c := *o
	c.EdgeDropped = maps.Clone(o.EdgeDropped)
	c.Devices = maps.Clone(o.Devices)
	c.SamplesRejected = maps.Clone(o.SamplesRejected)
	c.OpenAlarms = []alarms.Alarm{}
	return c
}
