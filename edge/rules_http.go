package edge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// rulesRoutes: the process image and the current allocation (read-only, like
// the status), and the operator's controls: a charger's mode and a
// temporary per-connector override, both audited.
func (d *Daemon) rulesRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/image", d.handleImage)
	mux.HandleFunc("GET /api/v1/rules", d.handleAllocation)
	mux.HandleFunc("PUT /api/v1/rules/chargers/{id}/mode", d.operatorOnly("operator", d.handleSetMode))
	mux.HandleFunc("PUT /api/v1/rules/chargers/{id}/connectors/{n}/override", d.operatorOnly("operator", d.handleOverride))
}

func (d *Daemon) handleAllocation(w http.ResponseWriter, _ *http.Request) {
	if d.rules == nil {
		writeError(w, http.StatusNotFound, "no rules section in the config")
		return
	}
	writeJSON(w, http.StatusOK, d.rules.Allocation())
}

// ModeRequest is the body of PUT …/mode: off, now, minpv, pv, or "" to
// return to the configured mode.
type ModeRequest struct {
	Mode string `json:"mode"`
}

func (d *Daemon) handleSetMode(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.rules == nil {
		writeError(w, http.StatusNotFound, "no rules section in the config")
		return
	}
	id := r.PathValue("id")
	var req ModeRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	err := d.rules.SetMode(id, req.Mode)
	d.audit(op, "rules_set_mode", id, req, resultOf(err), err)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"charger": id, "mode": req.Mode})
}

// OverrideRequest is the body of PUT …/override: a limit for a while
// (duration "0s" clears it). The guard still caps it.
type OverrideRequest struct {
	Amps     float64 `json:"amps"`
	Duration string  `json:"duration"`
}

func (d *Daemon) handleOverride(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.rules == nil {
		writeError(w, http.StatusNotFound, "no rules section in the config")
		return
	}
	id := r.PathValue("id")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, "connector must be a number >= 1")
		return
	}
	var req OverrideRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	dur, err := time.ParseDuration(req.Duration)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("duration %q: %v", req.Duration, err))
		return
	}
	ov, err := d.rules.SetOverride(id, n, req.Amps, dur, op.Name)
	d.audit(op, "rules_override", fmt.Sprintf("%s/%d", id, n), req, resultOf(err), err)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ov)
}

func resultOf(err error) string {
	if err != nil {
		return "refused"
	}
	return "done"
}
