package httpapi

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/history"
	"github.com/polis-edge/polis/fleet/registry"
	"github.com/polis-edge/polis/fleet/remoteconfig"
	"github.com/polis-edge/polis/fleet/users"
)

func (a *API) officeRoutes() {
	a.route("GET", "/api/v1/offices", users.Viewer, a.offices)
	a.route("GET", "/api/v1/offices/{id}", users.Viewer, a.office)
	a.route("GET", "/api/v1/summary", users.Viewer, a.summary)
}

// offices lists the offices in the caller's scope, filtered
// (?region=&province=&online=&q=) and paged (?offset=&limit=, total in
// X-Total-Count), so the dashboard stays fast at 7,000 offices.
func (a *API) offices(w http.ResponseWriter, r *http.Request, p *Principal) {
	q := r.URL.Query()
	f := registry.Filter{Region: q.Get("region"), Province: q.Get("province"), Query: q.Get("q"), Allowed: p.Allowed}
	if s := q.Get("online"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			a.fail(w, http.StatusBadRequest, "online: want true or false, not %q", s)
			return
		}
		f.Online = &b
	}
	offset, limit, ok := a.paging(w, r)
	if !ok {
		return
	}
	list := a.Source.Offices(f)
	w.Header().Set("X-Total-Count", strconv.Itoa(len(list)))
	list = list[min(offset, len(list)):]
	if limit > 0 {
		list = list[:min(limit, len(list))]
	}
	writeJSON(w, http.StatusOK, list)
}

// paging reads ?offset=&limit= (limit 0 = all, at most 10000).
func (a *API) paging(w http.ResponseWriter, r *http.Request) (offset, limit int, ok bool) {
	q := r.URL.Query()
	for _, v := range []struct {
		key string
		dst *int
	}{{"offset", &offset}, {"limit", &limit}} {
		s := q.Get(v.key)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 10000 {
			a.fail(w, http.StatusBadRequest, "%s: want an integer 0-10000, not %q", v.key, s)
			return 0, 0, false
		}
		*v.dst = n
	}
	return offset, limit, true
}

func (a *API) office(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.Source.Office(r.PathValue("id"))
	if !ok {
		a.fail(w, http.StatusNotFound, "unknown office %s", r.PathValue("id"))
		return
	}
	if !a.inScope(w, r, p, o.Place()) {
		return
	}
	out := officeDetail{Office: o}
	if st, err := a.Configs.Status(o.ID); err == nil && st.Desired > 0 {
		out.Config = &st
	}
	writeJSON(w, http.StatusOK, out)
}

// officeDetail is one office with its config versions (desired vs applied).
type officeDetail struct {
	registry.Office
	Config *remoteconfig.Status `json:"config,omitempty"`
}

// Area is one region or province on the overview.
type Area struct {
	Region   string        `json:"region"`
	Province string        `json:"province,omitempty"`
	Offices  int           `json:"offices"`
	Online   int           `json:"online"`
	Offline  int           `json:"offline"`
	Alarms   alarms.Counts `json:"open_alarms"`
	// Energy today (regions and total only; from InfluxDB, cached a minute).
	Energy *history.Energy `json:"energy_today,omitempty"`
}

// Summary is the overview: per region and per province, in the caller's scope.
type Summary struct {
	Total Area `json:"total"`
	// EnergyError says why energy is missing (InfluxDB unreachable).
	EnergyError string `json:"energy_error,omitempty"`
	Regions     []Area `json:"regions"`
	Provinces   []Area `json:"provinces"`
}

func (a *API) summary(w http.ResponseWriter, r *http.Request, p *Principal) {
	regions, provinces := map[string]*Area{}, map[string]*Area{}
	var s Summary
	area := func(m map[string]*Area, key, region, prov string) *Area {
		if m[key] == nil {
			m[key] = &Area{Region: region, Province: prov}
		}
		return m[key]
	}
	for _, o := range a.Source.Offices(registry.Filter{Allowed: p.Allowed}) {
		for _, ar := range []*Area{&s.Total, area(regions, o.Region, o.Region, ""), area(provinces, o.Region+"/"+o.Province, o.Region, o.Province)} {
			ar.Offices++
			if o.Online {
				ar.Online++
			} else {
				ar.Offline++
			}
		}
	}
	for _, al := range a.Alarms.Open(alarms.Query{Allowed: p.Allowed}) {
		for _, ar := range []*Area{&s.Total, area(regions, al.Region, al.Region, ""), area(provinces, al.Region+"/"+al.Province, al.Region, al.Province)} {
			addCount(&ar.Alarms, al.Severity)
		}
	}
	if today, err := a.History.Today(r.Context(), time.Now()); err != nil {
		s.EnergyError = err.Error()
	} else {
		s.Total.Energy = &history.Energy{}
		for name, ar := range regions {
			// Region totals only for regions wholly in scope: a province-scoped
			// user must not see the rest of the region's energy.
			if e, ok := today[name]; ok && p.Scope.Covers(users.Scope{Region: name}) {
				ar.Energy = &e
				s.Total.Energy.PVWh += e.PVWh
				s.Total.Energy.GridImportWh += e.GridImportWh
				s.Total.Energy.GridExportWh += e.GridExportWh
				s.Total.Energy.EVWh += e.EVWh
				s.Total.Energy.Sessions += e.Sessions
			}
		}
	}
	s.Regions, s.Provinces = sorted(regions), sorted(provinces)
	writeJSON(w, http.StatusOK, s)
}

func addCount(c *alarms.Counts, sev string) {
	switch sev {
	case alarms.Critical:
		c.Critical++
	case alarms.Warning:
		c.Warning++
	default:
		c.Other++
	}
	c.Total++
}

func sorted(m map[string]*Area) []Area {
	out := make([]Area, 0, len(m))
	for _, a := range m {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].Province < out[j].Province
	})
	return out
}
