package httpapi

import (
	"net/http"
	"time"

	"github.com/polis-edge/polis/fleet/history"
	"github.com/polis-edge/polis/fleet/users"
)

func (a *API) liveRoutes() {
	a.route("GET", "/api/v1/offices/{id}/live", users.Viewer, a.officeLive)
	a.route("GET", "/api/v1/offices/{id}/locker-events", users.Viewer, a.lockerEvents)
}

// officeLive: the office's latest value of each field per device, with the
// time it was measured and a stale mark (history.OfficeLive).
func (a *API) officeLive(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.scopedOffice(w, r, p)
	if !ok {
		return
	}
	live, err := a.History.OfficeLive(r.Context(), o.ID, time.Now(), o.LastSeen)
	if err != nil {
		a.fail(w, http.StatusServiceUnavailable, "InfluxDB: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, live)
}

// lockerEvents: the office's locker events (?from=&to=, default the last 7
// days), newest first, at most 1,000.
func (a *API) lockerEvents(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.scopedOffice(w, r, p)
	if !ok {
		return
	}
	from, to, ok := a.timeRange(w, r)
	if !ok {
		return
	}
	list, err := a.History.Events(r.Context(), history.EventQuery{Office: o.ID, KindPrefix: "locker_", From: from, To: to, Limit: 1000})
	if err != nil {
		a.fail(w, http.StatusServiceUnavailable, "InfluxDB: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
