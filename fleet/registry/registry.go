// Package registry keeps what the fleet knows about each office: who it is
// (from the config), whether it is online (from its retained status) and how
// its telemetry is flowing. It is in memory: history lives in InfluxDB, and a
// restarted fleet rebuilds status from retained messages. Events and device
// health are handed to the alarm manager (package alarms), which keeps the
// alarms durably.
package registry

import (
	"sync"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/protocols/sample"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/ingest"
	"github.com/polis-edge/polis/protocols/uplink"
)

// Office is a snapshot of one office for the API and the dashboard.
type Office struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Comune     string `json:"comune,omitempty"`
	ISTAT      string `json:"istat,omitempty"`
	Province   string `json:"province,omitempty"`
	Region     string `json:"region,omitempty"`
	Registered bool   `json:"registered"` // in the config; false if only seen on an external broker

	Online      bool              `json:"online"`
	StatusTime  time.Time         `json:"status_time,omitzero"` // when the office last reported status
	Version     string            `json:"version,omitempty"`
	Started     time.Time         `json:"started,omitzero"`
	Backlog     int64             `json:"backlog"`
	EdgeDropped map[string]uint64 `json:"edge_dropped,omitempty"`
	Devices     map[string]string `json:"devices,omitempty"`
	// ConfigVersion is the remote config version the office runs (0: its
	// local file), from its status; desired vs applied is in remoteconfig.
	ConfigVersion int64 `json:"config_version"`

	LastSeen        time.Time         `json:"last_seen,omitzero"`  // any message
	LastBatch       time.Time         `json:"last_batch,omitzero"` // last batch acked ok
	Batches         uint64            `json:"batches"`
	SamplesAccepted uint64            `json:"samples_accepted"`
	SamplesRejected map[string]uint64 `json:"samples_rejected,omitempty"` // by reason
	Retries         uint64            `json:"retries"`                    // batches answered "retry"

	// OpenAlarms are the office's open alarms, most severe first (at most alarms.keep).
	OpenAlarms []alarms.Alarm `json:"open_alarms"`
}

// Place is where the office is, for scope checks and alarms.
func (o *Office) Place() alarms.Place {
	return alarms.Place{Office: o.ID, Region: o.Region, Province: o.Province}
}

// Alarms is what the registry needs from the alarm manager.
type Alarms interface {
	Event(alarms.Place, sample.Sample) error
	Health(alarms.Place, map[string]string, time.Time) error
	Open(alarms.Query) []alarms.Alarm
	OpenCount() int
}

// Registry is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	offices map[string]*Office
	tags    map[string][]ingest.Tag
	keep    int
	alarms  Alarms
	started time.Time // silence of offices never heard counts from here
}

// New returns a registry holding the configured offices; keep bounds the open
// alarms remembered per office.
func New(offices []config.Office, keep int, al Alarms) *Registry {
	r := &Registry{offices: map[string]*Office{}, tags: map[string][]ingest.Tag{}, keep: keep, alarms: al, started: time.Now()}
	r.SetOffices(offices)
	return r
}

// SetOffices applies a (re)loaded office list. Offices dropped from the list
// keep their runtime state but are marked unregistered.
func (r *Registry) SetOffices(list []config.Office) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.offices {
		o.Registered = false
	}
	tags := make(map[string][]ingest.Tag, len(list))
	for _, c := range list {
		o := r.get(c.ID)
		o.Name, o.Comune, o.ISTAT, o.Province, o.Region = c.Name, c.Comune, c.ISTAT, c.Province, c.Region
		o.Registered = true
		tags[c.ID] = tagsOf(c)
	}
	r.tags = tags
}

// tagsOf lists the registry tags in key order, as line protocol wants them.
func tagsOf(c config.Office) []ingest.Tag {
	var t []ingest.Tag
	for _, kv := range [][2]string{{"comune", c.Comune}, {"istat", c.ISTAT}, {"province", c.Province}, {"region", c.Region}} {
		if kv[1] != "" {
			t = append(t, ingest.Tag{Key: kv[0], Value: kv[1]})
		}
	}
	return t
}

// Tags is the ingest.Tagger of the registry.
func (r *Registry) Tags(office string) []ingest.Tag {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.tags[office]
}

func (r *Registry) get(id string) *Office {
	o, ok := r.offices[id]
	if !ok {
		o = &Office{ID: id, SamplesRejected: map[string]uint64{}}
		r.offices[id] = o
	}
	return o
}

// RecordStatus applies a retained status message (or the last will).
func (r *Registry) RecordStatus(office string, st uplink.Status, now time.Time) {
	r.mu.Lock()
	o := r.get(office)
	o.Online = st.Online
	o.StatusTime = st.Time
	if st.Time.IsZero() {
		o.StatusTime = now
	}
	if st.Version != "" {
		o.Version = st.Version
	}
	if !st.Started.IsZero() {
		o.Started = st.Started
	}
	o.Backlog = st.Backlog
	if st.Online { // the last will carries no version
		o.ConfigVersion = st.ConfigVersion
	}
	if st.Dropped != nil {
		o.EdgeDropped = st.Dropped
	}
	if st.Devices != nil {
		o.Devices = st.Devices
	}
	o.LastSeen = now
	place := o.Place()
	r.mu.Unlock()
	if st.Devices != nil {
		r.alarms.Health(place, st.Devices, now) // errors are logged by the manager
	}
}

// RecordBatch applies the outcome of one telemetry message.
func (r *Registry) RecordBatch(res ingest.Result, now time.Time) {
	r.mu.Lock()
	o := r.get(res.Office)
	o.LastSeen = now
	for reason, n := range res.Ack.Reasons {
		o.SamplesRejected[reason] += uint64(n)
	}
	switch res.Ack.Status {
	case uplink.AckRetry:
		o.Retries++
		r.mu.Unlock()
		return
	case uplink.AckOK:
		o.Batches++
		o.LastBatch = now
		o.SamplesAccepted += uint64(res.Ack.Accepted)
	}
	place := o.Place()
	r.mu.Unlock()
	// Outside the lock: the alarm manager writes its store.
	for _, ev := range res.Events {
		r.alarms.Event(place, ev)
	}
}

// Silence reports, for every registered office, whether it has been silent
// for longer than after (never heard since the fleet started counts from
// the start).
func (r *Registry) Silence(now time.Time, after time.Duration, fn func(p alarms.Place, silent bool, since time.Duration)) {
	type entry struct {
		p     alarms.Place
		since time.Duration
	}
	r.mu.RLock()
	list := make([]entry, 0, len(r.offices))
	for _, o := range r.offices {
		if !o.Registered {
			continue
		}
		last := o.LastSeen
		if last.IsZero() {
			last = r.started
		}
		list = append(list, entry{o.Place(), now.Sub(last)})
	}
	r.mu.RUnlock()
	for _, e := range list {
		fn(e.p, e.since > after, e.since)
	}
}
