package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/commands"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/uplink"
)

func (a *API) commandRoutes() {
	a.route("POST", "/api/v1/offices/{id}/commands", users.Operator, a.commandSend)
	a.route("GET", "/api/v1/offices/{id}/commands", users.Viewer, a.commandList)
	a.route("GET", "/api/v1/commands/{cid}", users.Viewer, a.commandGet)
}

type commandRequest struct {
	ID     string          `json:"id"` // idempotency key; generated when empty
	Action string          `json:"action"`
	Device string          `json:"device"`
	Params json.RawMessage `json:"params"`
	TTL    float64         `json:"ttl_s"` // default 60, at most 3600
}

// commandSend records the command and sends it to the office; the answer
// is the record (status sent); poll GET /api/v1/commands/{cid} for the result.
func (a *API) commandSend(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.Source.Office(r.PathValue("id"))
	if !ok {
		a.fail(w, http.StatusNotFound, "unknown office %s", r.PathValue("id"))
		return
	}
	if !a.inScope(w, r, p, o.Place()) {
		return
	}
	var req commandRequest
	if !a.decode(w, r, &req) {
		return
	}
	if _, ok := uplink.Actions[req.Action]; !ok {
		a.fail(w, http.StatusBadRequest, "action %q unknown; known: %v", req.Action, keys(uplink.Actions))
		return
	}
	if _, ok := o.Devices[req.Device]; !ok && !(req.Action == "rule_param" && req.Device == "rules") {
		a.fail(w, http.StatusBadRequest, "office %s has no device %q (known: %v)", o.ID, req.Device, keys(o.Devices))
		return
	}
	if req.TTL == 0 {
		req.TTL = 60
	}
	if req.TTL < 1 || req.TTL > 3600 {
		a.fail(w, http.StatusBadRequest, "ttl_s: 1-3600")
		return
	}
	if req.ID == "" {
		b := make([]byte, 12)
		rand.Read(b)
		req.ID = hex.EncodeToString(b)
	}
	now := time.Now().UTC()
	cmd := uplink.Command{ID: req.ID, Action: req.Action, Device: req.Device, Params: req.Params, User: p.Name,
		Issued: now, Expires: now.Add(time.Duration(req.TTL * float64(time.Second)))}
	rec, existing, err := a.Commands.Send(cmd, o.Place())
	entry := audit.Entry{User: p.Name, Action: "command", Target: req.ID, Office: o.ID, Region: o.Region, Province: o.Province,
		Params: req, Result: "sent"}
	switch {
	case errors.Is(err, commands.ErrDuplicate):
		a.fail(w, http.StatusConflict, "%v", err)
		return
	case err != nil:
		a.fail(w, http.StatusBadRequest, "%v", err)
		return
	case existing:
		writeJSON(w, http.StatusOK, rec) // a retry: not sent again
		return
	}
	a.audit.Add(entry)
	writeJSON(w, http.StatusAccepted, rec)
}

func (a *API) commandList(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.Source.Office(r.PathValue("id"))
	if !ok {
		a.fail(w, http.StatusNotFound, "unknown office %s", r.PathValue("id"))
		return
	}
	if !a.inScope(w, r, p, o.Place()) {
		return
	}
	list, err := a.Commands.List(commands.Query{Office: o.ID})
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (a *API) commandGet(w http.ResponseWriter, r *http.Request, p *Principal) {
	rec, err := a.Commands.Get(r.PathValue("cid"))
	if err != nil {
		a.fail(w, http.StatusNotFound, "no command %s", r.PathValue("cid"))
		return
	}
	if !a.inScope(w, r, p, rec.Place) {
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
