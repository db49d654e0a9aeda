package registry

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// Filter selects offices for the API; empty fields match everything.
type Filter struct {
	Region, Province string
	Online           *bool
}

func (f Filter) match(o *Office) bool {
	return (f.Region == "" || strings.EqualFold(f.Region, o.Region)) &&
		(f.Province == "" || strings.EqualFold(f.Province, o.Province)) &&
		(f.Online == nil || *f.Online == o.Online)
}

// Offices returns copies of the matching offices sorted by id.
func (r *Registry) Offices(f Filter) []Office {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Office, 0, len(r.offices))
	for _, o := range r.offices {
		if f.match(o) {
			out = append(out, clone(o))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Office returns a copy of one office.
func (r *Registry) Office(id string) (Office, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	o, ok := r.offices[id]
	if !ok {
		return Office{}, false
	}
	return clone(o), true
}

// Alarms returns the open alarms of all offices, newest first.
func (r *Registry) Alarms() []Alarm {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Alarm
	for _, o := range r.offices {
		out = append(out, o.OpenAlarms...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out
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
		c.OpenAlarms += len(o.OpenAlarms)
	}
	return c
}

func clone(o *Office) Office {
	c := *o
	c.EdgeDropped = maps.Clone(o.EdgeDropped)
	c.Devices = maps.Clone(o.Devices)
	c.SamplesRejected = maps.Clone(o.SamplesRejected)
	c.OpenAlarms = slices.Clone(o.OpenAlarms)
	if c.OpenAlarms == nil {
		c.OpenAlarms = []Alarm{}
	}
	return c
}
