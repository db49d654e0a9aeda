package edge

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/polis-edge/polis/protocols/ocpp"
)

// Smart-charging routes: the profiles the office installed on a charger, a
// profile of the operator's making (recurring, validity window, several
// periods), and the office's composite schedule next to the charger's.
func (d *Daemon) ocppProfileRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/ocpp/chargers/{id}/profiles", d.operatorOnly("viewer", d.handleOCPPProfiles))
	mux.HandleFunc("POST /api/v1/ocpp/chargers/{id}/profiles", d.operatorOnly("operator", d.handleOCPPSetProfile))
	mux.HandleFunc("GET /api/v1/ocpp/chargers/{id}/composite", d.operatorOnly("viewer", d.handleOCPPComposite))
}

func (d *Daemon) handleOCPPProfiles(w http.ResponseWriter, r *http.Request, _ Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	ps := d.ocpp.Profiles(r.PathValue("id"))
	if ps == nil {
		ps = []ocpp.ChargingProfile{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"charger": r.PathValue("id"), "profiles": ps})
}

// handleOCPPSetProfile: body is an ocpp.ChargingProfile (docs/ocpp.md).
func (d *Daemon) handleOCPPSetProfile(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	var p ocpp.ChargingProfile
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	id := r.PathValue("id")
	res, err := d.ocpp.SetProfile(r.Context(), id, p)
	d.audit(op, "ocpp_set_profile", id, p, string(res.Status), err)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	status := http.StatusOK
	switch res.Status {
	case ocpp.LimitRejected:
		status = http.StatusConflict
	case ocpp.LimitOffline:
		status = http.StatusServiceUnavailable
	case ocpp.LimitTimedOut:
		status = http.StatusGatewayTimeout
	}
	writeJSON(w, status, map[string]any{"charger": id, "status": res.Status, "detail": res.Detail})
}

// handleOCPPComposite: ?connector=N&duration=S&unit=A|W (defaults 0, 3600, A).
func (d *Daemon) handleOCPPComposite(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	q := r.URL.Query()
	num := func(key string, def int) (int, bool) {
		if q.Get(key) == "" {
			return def, true
		}
		n, err := strconv.Atoi(q.Get(key))
		return n, err == nil
	}
	conn, ok1 := num("connector", 0)
	dur, ok2 := num("duration", 3600)
	unit := q.Get("unit")
	if unit == "" {
		unit = "A"
	}
	if !ok1 || !ok2 {
		writeError(w, http.StatusBadRequest, "connector and duration must be integers")
		return
	}
	id := r.PathValue("id")
	cmp, err := d.ocpp.CompareComposite(r.Context(), id, conn, dur, unit)
	d.audit(op, "ocpp_composite", id, map[string]any{"connector": conn, "duration": dur, "unit": unit}, cmp.Status, err)
	if err != nil {
		if isCallError(err) || errors.Is(err, ocpp.ErrNotConnected) || errors.Is(err, ocpp.ErrTimeout) {
			d.ocppError(w, err)
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, cmp)
}
