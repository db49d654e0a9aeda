package httpapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/history"
	"github.com/polis-edge/polis/fleet/users"
)

func (a *API) historyRoutes() {
	a.route("GET", "/api/v1/offices/{id}/chart", users.Viewer, a.officeChart)
	a.route("GET", "/api/v1/offices/{id}/sessions", users.Viewer, a.officeSessions)
	a.route("GET", "/api/v1/sessions/export.csv", users.Viewer, a.sessionsCSV)
}

// officeChart: ?span=24h|7d, PV, grid, EV power, temperature, CO2.
func (a *API) officeChart(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.Source.Office(r.PathValue("id"))
	if !ok {
		a.fail(w, http.StatusNotFound, "unknown office %s", r.PathValue("id"))
		return
	}
	if !a.inScope(w, r, p, o.Place()) {
		return
	}
	span := r.URL.Query().Get("span")
	if span == "" {
		span = "24h"
	}
	if _, ok := history.Spans[span]; !ok {
		a.fail(w, http.StatusBadRequest, "span must be 24h or 7d, not %q", span)
		return
	}
	ch, err := a.History.OfficeChart(r.Context(), o.ID, span, time.Now())
	if err != nil {
		a.fail(w, http.StatusServiceUnavailable, "InfluxDB: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, ch)
}

// timeRange reads ?from=&to= (RFC 3339; default the last 7 days).
func (a *API) timeRange(w http.ResponseWriter, r *http.Request) (from, to time.Time, ok bool) {
	to, from = time.Now(), time.Now().Add(-7*24*time.Hour)
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := r.URL.Query().Get(t.key); s != "" {
			v, err := time.Parse(time.RFC3339, s)
			if err != nil {
				a.fail(w, http.StatusBadRequest, "%s: want an RFC 3339 time, not %q", t.key, s)
				return from, to, false
			}
			*t.dst = v
		}
	}
	if !from.Before(to) {
		a.fail(w, http.StatusBadRequest, "from must be before to")
		return from, to, false
	}
	return from, to, true
}

func (a *API) officeSessions(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.Source.Office(r.PathValue("id"))
	if !ok {
		a.fail(w, http.StatusNotFound, "unknown office %s", r.PathValue("id"))
		return
	}
	if !a.inScope(w, r, p, o.Place()) {
		return
	}
	from, to, ok := a.timeRange(w, r)
	if !ok {
		return
	}
	list, err := a.History.Sessions(r.Context(), history.SessionQuery{Office: o.ID, From: from, To: to, Limit: 500})
	if err != nil {
		a.fail(w, http.StatusServiceUnavailable, "InfluxDB: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// sessionsCSV exports finished sessions of a region (?region=&province=&from=&to=) in scope.
func (a *API) sessionsCSV(w http.ResponseWriter, r *http.Request, p *Principal) {
	q := r.URL.Query()
	from, to, ok := a.timeRange(w, r)
	if !ok {
		return
	}
	sq := history.SessionQuery{Region: q.Get("region"), Province: q.Get("province"), From: from, To: to}
	if p.Scope.Region != "" && sq.Region == "" {
		sq.Region = p.Scope.Region // the database filters; the scope check below decides
	}
	list, err := a.History.Sessions(r.Context(), sq)
	if err != nil {
		a.fail(w, http.StatusServiceUnavailable, "InfluxDB: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="polis-sessions.csv"`)
	c := csv.NewWriter(w)
	c.Write([]string{"time", "office", "region", "province", "charger", "connector", "group", "transaction_id", "energy_wh", "duration_s", "stop_reason"})
	for _, s := range list {
		if !p.Allowed(alarms.Place{Office: s.Office, Region: s.Region, Province: s.Province}) {
			continue
		}
		c.Write([]string{s.Time.Format(time.RFC3339), s.Office, s.Region, s.Province, s.Device, s.Connector, s.Group, csvSafe(s.TransactionID),
			strconv.FormatFloat(s.EnergyWh, 'f', -1, 64), strconv.FormatFloat(s.DurationS, 'f', -1, 64), csvSafe(s.StopReason)})
	}
	c.Flush()
}
