package httpapi

import (
	"errors"
	"net/http"
	"sort"

	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/registry"
	"github.com/polis-edge/polis/fleet/remoteconfig"
	"github.com/polis-edge/polis/fleet/users"
)

func (a *API) configRoutes() {
	a.route("GET", "/api/v1/offices/{id}/config", users.Admin, a.configGet)
	a.route("POST", "/api/v1/offices/{id}/config", users.Admin, a.configPush)
	a.route("GET", "/api/v1/config/templates", users.Admin, a.templateList)
	a.route("PUT", "/api/v1/config/templates/{name}", users.Admin, a.templatePut)
	a.route("POST", "/api/v1/config/rollout", users.Admin, a.rollout)
}

type officeConfig struct {
	Status   remoteconfig.Status    `json:"status"`
	Versions []remoteconfig.Version `json:"versions"`
}

func (a *API) scopedOffice(w http.ResponseWriter, r *http.Request, p *Principal) (registry.Office, bool) {
	o, ok := a.Source.Office(r.PathValue("id"))
	if !ok {
		a.fail(w, http.StatusNotFound, "unknown office %s", r.PathValue("id"))
		return o, false
	}
	return o, a.inScope(w, r, p, o.Place())
}

func (a *API) configGet(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.scopedOffice(w, r, p)
	if !ok {
		return
	}
	st, err := a.Configs.Status(o.ID)
	if err == nil {
		var vs []remoteconfig.Version
		if vs, err = a.Configs.Versions(o.ID); err == nil {
			writeJSON(w, http.StatusOK, officeConfig{Status: st, Versions: vs})
			return
		}
	}
	a.fail(w, http.StatusInternalServerError, "%v", err)
}

type configPushRequest struct {
	YAML string `json:"yaml"`
}

func (a *API) configPush(w http.ResponseWriter, r *http.Request, p *Principal) {
	o, ok := a.scopedOffice(w, r, p)
	if !ok {
		return
	}
	var req configPushRequest
	if !a.decode(w, r, &req) {
		return
	}
	v, err := a.Configs.Push(o.ID, req.YAML, "upload", p.Name)
	a.configAudit(p, o, "upload", v, err)
	if errors.Is(err, remoteconfig.ErrInvalid) {
		a.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (a *API) configAudit(p *Principal, o registry.Office, source string, v remoteconfig.Version, err error) {
	e := audit.Entry{User: p.Name, Action: "config_push", Target: o.ID, Office: o.ID, Region: o.Region, Province: o.Province,
		Params: map[string]any{"source": source, "version": v.Version}, Result: "ok"}
	if err != nil {
		e.Result, e.Error = "refused", err.Error()
	}
	a.audit.Add(e)
}

func (a *API) templateList(w http.ResponseWriter, _ *http.Request, _ *Principal) {
	list, err := a.Configs.Templates()
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

type templateRequest struct {
	Text string `json:"text"`
}

func (a *API) templatePut(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req templateRequest
	if !a.decode(w, r, &req) {
		return
	}
	name := r.PathValue("name")
	if err := a.Configs.PutTemplate(name, req.Text, p.Name); err != nil {
		a.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	a.audit.Add(audit.Entry{User: p.Name, Action: "config_template", Target: name, Result: "ok"})
	w.WriteHeader(http.StatusNoContent)
}

// rolloutRequest applies a template to a list of offices, or to the first
// percent of the offices in scope (by id), with per-office values over
// defaults: stage it on a few offices, look at the acks, then the rest.
type rolloutRequest struct {
	Template string                       `json:"template"`
	Offices  []string                     `json:"offices"`
	Percent  float64                      `json:"percent"`
	Region   string                       `json:"region"`
	Defaults map[string]string            `json:"defaults"`
	Values   map[string]map[string]string `json:"values"`
}

type rolloutResult struct {
	Office  string `json:"office"`
	Version int64  `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (a *API) rollout(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req rolloutRequest
	if !a.decode(w, r, &req) {
		return
	}
	if (len(req.Offices) == 0) == (req.Percent == 0) {
		a.fail(w, http.StatusBadRequest, "give offices or percent (1-100), not both")
		return
	}
	if req.Percent < 0 || req.Percent > 100 {
		a.fail(w, http.StatusBadRequest, "percent: 1-100")
		return
	}
	var targets []registry.Office
	if len(req.Offices) > 0 {
		for _, id := range req.Offices {
			o, ok := a.Source.Office(id)
			if !ok {
				a.fail(w, http.StatusBadRequest, "unknown office %s: nothing pushed", id)
				return
			}
			if !p.Allowed(o.Place()) {
				a.forbidden(w, r, p, "office %s is outside your scope (%s): nothing pushed", id, p.Scope)
				return
			}
			targets = append(targets, o)
		}
	} else {
		all := a.Source.Offices(registry.Filter{Region: req.Region, Allowed: p.Allowed})
		sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
		n := int(float64(len(all))*req.Percent/100 + 0.999999)
		targets = all[:min(n, len(all))]
	}
	// Render and validate everything first: a template that fails for one
	// office pushes to none.
	yamls := make([]string, len(targets))
	for i, o := range targets {
		vals := map[string]string{}
		for k, v := range req.Defaults {
			vals[k] = v
		}
		for k, v := range req.Values[o.ID] {
			vals[k] = v
		}
		y, err := a.Configs.Render(req.Template, remoteconfig.Office{ID: o.ID, Name: o.Name, Comune: o.Comune, ISTAT: o.ISTAT,
			Province: o.Province, Region: o.Region}, vals)
		if err == nil {
			err = remoteconfig.Validate(o.ID, y)
		}
		if err != nil {
			a.fail(w, http.StatusBadRequest, "office %s: %v (nothing pushed)", o.ID, err)
			return
		}
		yamls[i] = y
	}
	out := make([]rolloutResult, len(targets))
	for i, o := range targets {
		v, err := a.Configs.Push(o.ID, yamls[i], "template:"+req.Template, p.Name)
		a.configAudit(p, o, "template:"+req.Template, v, err)
		out[i] = rolloutResult{Office: o.ID, Version: v.Version}
		if err != nil {
			out[i].Error = err.Error()
		}
	}
	writeJSON(w, http.StatusOK, out)
}
