package httpapi

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/users"
)

func (a *API) alarmRoutes() {
	a.route("GET", "/api/v1/alarms", users.Viewer, a.openAlarms)
	a.route("GET", "/api/v1/alarms/history", users.Viewer, a.alarmHistory)
	a.route("GET", "/api/v1/alarms/export.csv", users.Viewer, a.alarmCSV)
	a.route("POST", "/api/v1/alarms/{id}/ack", users.Operator, a.alarmAction("alarm_ack"))
	a.route("POST", "/api/v1/alarms/{id}/clear", users.Operator, a.alarmAction("alarm_clear"))
}

// alarmQuery reads ?office=&region=&province=&severity=&sort=&from=&to=&limit=.
func (a *API) alarmQuery(w http.ResponseWriter, r *http.Request, p *Principal) (alarms.Query, bool) {
	v := r.URL.Query()
	q := alarms.Query{Office: v.Get("office"), Region: v.Get("region"), Province: v.Get("province"),
		Severity: v.Get("severity"), Sort: v.Get("sort"), Allowed: p.Allowed}
	switch q.Sort {
	case "", "severity", "age", "newest":
	default:
		a.fail(w, http.StatusBadRequest, "sort: want severity, age or newest, not %q", q.Sort)
		return q, false
	}
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(t.key); s != "" {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				a.fail(w, http.StatusBadRequest, "%s: want an RFC 3339 time (2026-01-31T00:00:00Z), not %q", t.key, s)
				return q, false
			}
			*t.dst = tm
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			a.fail(w, http.StatusBadRequest, "limit: want 1-100000, not %q", s)
			return q, false
		}
		q.Limit = n
	}
	return q, true
}

// openAlarms lists open alarms (active, or cleared but unacknowledged) in scope.
func (a *API) openAlarms(w http.ResponseWriter, r *http.Request, p *Principal) {
	q, ok := a.alarmQuery(w, r, p)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.Alarms.Open(q))
}

// alarmHistory lists every alarm raised in [from, to] in scope, newest first.
func (a *API) alarmHistory(w http.ResponseWriter, r *http.Request, p *Principal) {
	q, ok := a.alarmQuery(w, r, p)
	if !ok {
		return
	}
	list, err := a.Alarms.History(q)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "alarm history: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// alarmCSV exports the history as CSV, for a region and a time range.
func (a *API) alarmCSV(w http.ResponseWriter, r *http.Request, p *Principal) {
	q, ok := a.alarmQuery(w, r, p)
	if !ok {
		return
	}
	list, err := a.Alarms.History(q)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "alarm history: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="polis-alarms.csv"`)
	c := csv.NewWriter(w)
	c.Write([]string{"id", "office", "region", "province", "device", "kind", "detail", "severity", "message",
		"raised", "active", "cleared", "cleared_by", "acknowledged", "acknowledged_by", "acknowledged_at", "comment", "count"})
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, al := range list {
		c.Write([]string{al.ID, al.Office, al.Region, al.Province, al.Device, al.Kind, al.Detail, al.Severity, csvSafe(al.Message),
			ts(al.Raised), strconv.FormatBool(al.Active), ts(al.Cleared), al.ClearedBy, strconv.FormatBool(al.Acked),
			al.AckedBy, ts(al.AckedAt), csvSafe(al.AckComment), strconv.Itoa(al.Count)})
	}
	c.Flush()
}

// csvSafe defuses spreadsheet formulas in free text (CSV injection).
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

type alarmActionRequest struct {
	Comment string `json:"comment"`
}

// alarmAction acknowledges or clears an open alarm in scope; audited.
func (a *API) alarmAction(action string) handler {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) {
		var req alarmActionRequest
		if !a.decode(w, r, &req) {
			return
		}
		if len(req.Comment) > 1000 {
			a.fail(w, http.StatusBadRequest, "comment: at most 1000 characters")
			return
		}
		id := r.PathValue("id")
		al, ok := a.Alarms.Get(id)
		if !ok {
			a.fail(w, http.StatusNotFound, "no open alarm %s", id)
			return
		}
		if !a.inScope(w, r, p, al.Place) {
			return
		}
		var err error
		if action == "alarm_ack" {
			al, err = a.Alarms.Ack(id, p.Name, req.Comment)
		} else {
			al, err = a.Alarms.Clear(id, p.Name)
		}
		entry := audit.Entry{User: p.Name, Action: action, Target: id, Office: al.Office, Region: al.Region,
			Province: al.Province, Params: req, Result: "ok"}
		switch {
		case errors.Is(err, alarms.ErrNotFound):
			a.fail(w, http.StatusNotFound, "no open alarm %s", id)
			return
		case errors.Is(err, alarms.ErrState):
			a.fail(w, http.StatusConflict, "%v", err)
			return
		case err != nil:
			entry.Result, entry.Error = "failed", err.Error()
			a.audit.Add(entry)
			a.fail(w, http.StatusInternalServerError, "%v", err)
			return
		}
		a.audit.Add(entry)
		writeJSON(w, http.StatusOK, al)
	}
}
