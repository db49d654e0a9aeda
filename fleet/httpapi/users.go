package httpapi

import (
	"errors"
	"net/http"

	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/users"
)

func (a *API) userRoutes() {
	a.route("GET", "/api/v1/users", users.Admin, a.userList)
	a.route("POST", "/api/v1/users", users.Admin, a.userAdd)
	a.route("DELETE", "/api/v1/users/{name}", users.Admin, a.userDelete)
	a.route("POST", "/api/v1/users/{name}/password", users.Viewer, a.userPassword)
	a.route("GET", "/api/v1/tokens", users.Viewer, a.tokenList)
	a.route("POST", "/api/v1/tokens", users.Viewer, a.tokenAdd)
	a.route("DELETE", "/api/v1/tokens/{id}", users.Viewer, a.tokenRevoke)
}

// An admin manages only users whose scope lies inside their own: a
// Basilicata admin cannot create a fleet-wide user.
func (a *API) userList(w http.ResponseWriter, _ *http.Request, p *Principal) {
	all, err := a.users.List()
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	out := []users.User{}
	for _, u := range all {
		if p.Scope.Covers(u.Scope) {
			out = append(out, u)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type userAddRequest struct {
	Name      string   `json:"name"`
	Password  string   `json:"password"`
	Role      string   `json:"role"`
	Region    string   `json:"region"`
	Provinces []string `json:"provinces"`
}

func (a *API) userAdd(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req userAddRequest
	if !a.decode(w, r, &req) {
		return
	}
	role, err := users.ParseRole(req.Role)
	if err != nil {
		a.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	scope := users.Scope{Region: req.Region, Provinces: req.Provinces}
	if !p.Scope.Covers(scope) {
		a.forbidden(w, r, p, "scope %s is wider than yours (%s)", scope, p.Scope)
		return
	}
	entry := audit.Entry{User: p.Name, Action: "user_add", Target: req.Name, Params: map[string]any{"role": role, "scope": scope}, Result: "ok"}
	switch err := a.users.Add(req.Name, req.Password, role, scope); {
	case errors.Is(err, users.ErrExists):
		a.fail(w, http.StatusConflict, "%v", err)
		return
	case err != nil:
		a.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	a.audit.Add(entry)
	u, _ := a.users.Get(req.Name)
	writeJSON(w, http.StatusCreated, u.Public())
}

// managed returns the user name if p may manage it, else answers.
func (a *API) managed(w http.ResponseWriter, r *http.Request, p *Principal, name string) (users.User, bool) {
	u, err := a.users.Get(name)
	if err != nil {
		a.fail(w, http.StatusNotFound, "%v", err)
		return u, false
	}
	if !p.Scope.Covers(u.Scope) {
		a.forbidden(w, r, p, "user %s is outside your scope (%s)", name, p.Scope)
		return u, false
	}
	return u, true
}

func (a *API) userDelete(w http.ResponseWriter, r *http.Request, p *Principal) {
	name := r.PathValue("name")
	if _, ok := a.managed(w, r, p, name); !ok {
		return
	}
	if err := a.users.Delete(name); err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	a.audit.Add(audit.Entry{User: p.Name, Action: "user_delete", Target: name, Result: "ok"})
	w.WriteHeader(http.StatusNoContent)
}

type passwordRequest struct {
	Password string `json:"password"`
}

// userPassword: anyone may change their own password, admins those of the
// users they manage.
func (a *API) userPassword(w http.ResponseWriter, r *http.Request, p *Principal) {
	name := r.PathValue("name")
	if name != p.Name {
		if !p.Role.Allows(users.Admin) {
			a.forbidden(w, r, p, "only an admin changes another user's password")
			return
		}
		if _, ok := a.managed(w, r, p, name); !ok {
			return
		}
	}
	var req passwordRequest
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.users.SetPassword(name, req.Password); err != nil {
		if errors.Is(err, users.ErrNoUser) {
			a.fail(w, http.StatusNotFound, "%v", err)
		} else {
			a.fail(w, http.StatusBadRequest, "%v", err)
		}
		return
	}
	a.audit.Add(audit.Entry{User: p.Name, Action: "user_password", Target: name, Result: "ok"})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) tokenList(w http.ResponseWriter, _ *http.Request, p *Principal) {
	list, err := a.users.Tokens(p.Name)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

type tokenRequest struct {
	Name string `json:"name"`
}

type tokenCreated struct {
	users.Token
	Secret string `json:"secret"` // shown once
}

// tokenAdd makes an API token acting as the caller (same role and scope).
func (a *API) tokenAdd(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req tokenRequest
	if !a.decode(w, r, &req) {
		return
	}
	if req.Name == "" || len(req.Name) > 100 {
		a.fail(w, http.StatusBadRequest, "name: 1-100 characters, to recognise the token later")
		return
	}
	secret, t, err := a.users.NewToken(p.Name, req.Name)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	a.audit.Add(audit.Entry{User: p.Name, Action: "token_add", Target: t.ID, Params: req, Result: "ok"})
	writeJSON(w, http.StatusCreated, tokenCreated{Token: t, Secret: secret})
}

func (a *API) tokenRevoke(w http.ResponseWriter, r *http.Request, p *Principal) {
	id := r.PathValue("id")
	if err := a.users.RevokeToken(p.Name, id); err != nil {
		a.fail(w, http.StatusNotFound, "token %s: %v", id, err)
		return
	}
	a.audit.Add(audit.Entry{User: p.Name, Action: "token_revoke", Target: id, Result: "ok"})
	w.WriteHeader(http.StatusNoContent)
}

// auditList shows the trail: entries about offices in the caller's scope;
// entries about no office (users, sign-ins) only to fleet-wide admins.
func (a *API) auditList(w http.ResponseWriter, r *http.Request, p *Principal) {
	aq, ok := a.alarmQuery(w, r, p)
	if !ok {
		return
	}
	list, err := a.audit.List(audit.Query{From: aq.From, To: aq.To, Office: aq.Office, User: r.URL.Query().Get("user"), Limit: aq.Limit,
		Match: func(e audit.Entry) bool {
			if e.Office == "" {
				return p.Scope.Fleet()
			}
			return p.Scope.Allows(e.Region, e.Province)
		}})
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
