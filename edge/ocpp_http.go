package edge

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/polis-edge/polis/protocols/ocpp"
)

// ocppRoutes: the OCPP operator interface. One route per charger and
// action sends the call, waits for the charger's answer (ocpp
// command_timeout) and returns it; the payload is the OCPP JSON payload of
// the action, checked against the action's schema before it leaves, and the
// answer is checked when it arrives. Every call is audited. The fleet's
// remote commands use the same ocpp.Service paths. docs/ocpp.md lists them.
func (d *Daemon) ocppRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/ocpp/chargers", d.operatorOnly("viewer", d.handleOCPPChargers))
	mux.HandleFunc("GET /api/v1/ocpp/actions", d.operatorOnly("viewer", d.handleOCPPActions))
	mux.HandleFunc("POST /api/v1/ocpp/chargers/{id}/calls/{action}", d.operatorOnly("operator", d.handleOCPPCall))
	mux.HandleFunc("POST /api/v1/ocpp/chargers/{id}/local-list", d.operatorOnly("operator", d.handleOCPPSyncList))
	mux.HandleFunc("PUT /api/v1/ocpp/chargers/{id}/password", d.operatorOnly("admin", d.handleOCPPPassword))
	mux.HandleFunc("GET /api/v1/ocpp/tokens", d.operatorOnly("viewer", d.handleOCPPTokens))
	mux.HandleFunc("PUT /api/v1/ocpp/tokens/{token}", d.operatorOnly("operator", d.handleOCPPPutToken))
	mux.HandleFunc("DELETE /api/v1/ocpp/tokens/{token}", d.operatorOnly("operator", d.handleOCPPDeleteToken))
	d.ocppProfileRoutes(mux)
}

func (d *Daemon) handleOCPPTokens(w http.ResponseWriter, _ *http.Request, _ Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	tags, version := d.ocpp.Tags()
	writeJSON(w, http.StatusOK, map[string]any{"version": version, "tokens": tags})
}

// handleOCPPPutToken creates or changes a token: {"group", "departure",
// "status": Accepted|Blocked|Expired|Invalid|ConcurrentTx, "expiry", "parent"}.
func (d *Daemon) handleOCPPPutToken(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	var tag ocpp.TagConfig
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tag); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	tag.ID, tag.Deleted = r.PathValue("token"), false
	version, err := d.ocpp.PutTag(tag)
	d.audit(op, "ocpp_put_token", tag.ID, tag, resultOf(err), err)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": version, "token": tag})
}

func (d *Daemon) handleOCPPDeleteToken(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	id := r.PathValue("token")
	version, err := d.ocpp.DeleteTag(id)
	d.audit(op, "ocpp_delete_token", id, nil, resultOf(err), err)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": version})
}

// handleOCPPPassword rotates a charger's Basic-auth password: {"password"}.
// The audit records that it changed, never the password.
func (d *Daemon) handleOCPPPassword(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	id := r.PathValue("id")
	var req struct {
		Password string `json:"password"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	status, err := d.ocpp.SetPassword(r.Context(), id, req.Password)
	d.audit(op, "ocpp_set_password", id, map[string]int{"length": len(req.Password)}, status, err)
	switch {
	case err != nil && (errors.Is(err, ocpp.ErrNotConnected) || errors.Is(err, ocpp.ErrTimeout) || isCallError(err)):
		d.ocppError(w, err)
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	case status != "Accepted":
		writeJSON(w, http.StatusConflict, map[string]any{"charger": id, "status": status, "error": "charger did not accept the password; the old one stays"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"charger": id, "status": status})
	}
}

func isCallError(err error) bool {
	var ce *ocpp.CallError
	return errors.As(err, &ce)
}

// handleOCPPSyncList sends the whole authorisation list to a charger now.
func (d *Daemon) handleOCPPSyncList(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	id := r.PathValue("id")
	status, err := d.ocpp.SyncLocalList(r.Context(), id)
	d.audit(op, "ocpp_sync_local_list", id, nil, status, err)
	if err != nil {
		d.ocppError(w, err)
		return
	}
	_, version := d.ocpp.Tags()
	writeJSON(w, http.StatusOK, map[string]any{"charger": id, "status": status, "version": version})
}

func (d *Daemon) handleOCPPChargers(w http.ResponseWriter, _ *http.Request, _ Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"connectors": d.ocpp.Snapshot(), "devices": d.ocpp.Devices()})
}

func (d *Daemon) handleOCPPActions(w http.ResponseWriter, _ *http.Request, _ Operator) {
	writeJSON(w, http.StatusOK, map[string][]string{"ocpp1.6": ocpp.Actions16, "ocpp2.0.1": ocpp.Actions201})
}

// maxCallBody bounds an operator's payload (SendLocalList is the largest).
const maxCallBody = 256 << 10

func (d *Daemon) handleOCPPCall(w http.ResponseWriter, r *http.Request, op Operator) {
	if d.ocpp == nil {
		writeError(w, http.StatusNotFound, "no ocpp section in the config")
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body: "+err.Error())
		return
	}
	if len(body) > 0 && !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "body is not JSON")
		return
	}
	res, err := d.ocpp.Send(r.Context(), id, action, body)
	result := "done"
	if err != nil {
		result = "failed"
	}
	d.audit(op, "ocpp_"+action, id, json.RawMessage(orEmpty(body)), result, err)
	if err != nil {
		d.ocppError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ocppError maps a command's failure onto an HTTP status.
func (d *Daemon) ocppError(w http.ResponseWriter, err error) {
	var ce *ocpp.CallError
	switch {
	case errors.Is(err, ocpp.ErrUnknownAction):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ocpp.ErrBadPayload):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ocpp.ErrNotConnected):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, ocpp.ErrTimeout):
		writeError(w, http.StatusGatewayTimeout, err.Error())
	case errors.As(err, &ce):
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "code": ce.Code, "description": ce.Description})
	default:
		writeError(w, http.StatusBadGateway, err.Error())
	}
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}
