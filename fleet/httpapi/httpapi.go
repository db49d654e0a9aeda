// Package httpapi serves the fleet's HTTP interface: probes, Prometheus
// metrics, the JSON API and the facility managers' dashboard. Every API
// route except sign-in and the OpenAPI description needs a signed-in user
// (session cookie + CSRF header, or an API token) with the route's role, and
// answers only about offices in the user's scope.
package httpapi

import (
	"bytes"
	"context"
	"embed"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/commands"
	"github.com/polis-edge/polis/fleet/history"
	"github.com/polis-edge/polis/fleet/registry"
	"github.com/polis-edge/polis/fleet/remoteconfig"
	"github.com/polis-edge/polis/fleet/users"
)

// Source is what the API reads from the running fleet.
type Source interface {
	Offices(registry.Filter) []registry.Office
	Office(id string) (registry.Office, bool)
	Ready(ctx context.Context) error
	WriteMetrics(w io.Writer) error
	StatusJSON() any
}

// Deps are the fleet's parts the API works on.
type Deps struct {
	Source   Source
	Users    *users.Users
	Audit    *audit.Log
	Alarms   *alarms.Manager
	Commands *commands.Commands
	History  *history.Client
	Configs  *remoteconfig.Configs
	// Backup writes a consistent copy of the state file while the fleet runs.
	Backup func(io.Writer) (int64, error)
}

// Options tune the HTTP layer (from the fleet config's http section).
type Options struct {
	SessionTTL     time.Duration
	TLS            bool // cookies are Secure
	MaxBody        int64
	LoginPerMinute int
}

// Route is one registered API route, for the OpenAPI check and the tests
// that prove every route's role and scope.
type Route struct {
	Method, Path string
	Role         users.Role // "" = public
}

// API is the HTTP handler.
type API struct {
	Deps
	users  *users.Users
	audit  *audit.Log
	opt    Options
	log    *slog.Logger
	mux    *http.ServeMux
	limits *loginLimits
	errors errorCounts

	mu     sync.Mutex
	routes []Route
}

//go:embed web
var web embed.FS

// New returns the handler for all routes.
func New(d Deps, opt Options, log *slog.Logger) *API {
	a := &API{Deps: d, users: d.Users, audit: d.Audit, opt: opt, log: log, mux: http.NewServeMux(),
		limits: &loginLimits{per: max(opt.LoginPerMinute, 1), bucket: map[string]*limitEntry{}}}
	src := d.Source
	a.public("GET", "/livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	a.public("GET", "/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := src.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	// Fleet-wide counters only, no office data: open like the probes so
	// Prometheus scrapes it without a user.
	a.public("GET", "/metrics", func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		if err := src.WriteMetrics(&buf); err != nil {
			log.Warn("write metrics", "err", err)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(buf.Bytes())
	})
	a.public("GET", "/api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapiJSON)
	})
	a.public("POST", "/api/v1/login", a.login)
	a.route("POST", "/api/v1/logout", users.Viewer, a.logout)
	a.route("GET", "/api/v1/me", users.Viewer, a.whoami)
	a.route("GET", "/api/v1/status", users.Viewer, a.status)
	a.officeRoutes()
	a.alarmRoutes()
	a.userRoutes()
	a.commandRoutes()
	a.historyRoutes()
	a.liveRoutes()
	a.configRoutes()
	a.route("GET", "/api/v1/audit", users.Admin, a.auditList)
	a.route("GET", "/api/v1/backup", users.Admin, a.backup)

	static, _ := fs.Sub(web, "web")
	a.mux.Handle("GET /", http.FileServerFS(static))
	// Unknown API paths answer in the API's error shape, not the file server's.
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		a.mux.HandleFunc(m+" /api/", func(w http.ResponseWriter, r *http.Request) {
			a.fail(w, http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path)
		})
	}
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Routes lists the API routes with the role each needs.
func (a *API) Routes() []Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Route(nil), a.routes...)
}

// ErrorCounts are the error answers given, by code.
func (a *API) ErrorCounts() map[string]uint64 { return a.errors.Snapshot() }

func (a *API) public(method, path string, h http.HandlerFunc) {
	a.mu.Lock()
	a.routes = append(a.routes, Route{Method: method, Path: path})
	a.mu.Unlock()
	a.mux.HandleFunc(method+" "+path, h)
}

func (a *API) route(method, path string, need users.Role, h handler) {
	a.mu.Lock()
	a.routes = append(a.routes, Route{Method: method, Path: path, Role: need})
	a.mu.Unlock()
	a.mux.HandleFunc(method+" "+path, a.protect(need, h))
}

// status is the fleet's self-status; fleet-wide figures, so only for
// fleet-wide users.
func (a *API) status(w http.ResponseWriter, r *http.Request, p *Principal) {
	if !p.Scope.Fleet() {
		a.forbidden(w, r, p, "the fleet status is for fleet-wide users; your scope is %s", p.Scope)
		return
	}
	writeJSON(w, http.StatusOK, a.Source.StatusJSON())
}

// backup streams a consistent copy of the fleet's state file (users,
// sessions, tokens, alarms, audit) while the fleet keeps running; it holds
// every office, so only fleet-wide admins get it.
func (a *API) backup(w http.ResponseWriter, r *http.Request, p *Principal) {
	if !p.Scope.Fleet() {
		a.forbidden(w, r, p, "the backup holds the whole fleet; your scope is %s", p.Scope)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="fleet.db"`)
	n, err := a.Deps.Backup(w)
	result := "ok"
	if err != nil {
		result = "failed"
		a.log.Error("backup", "err", err, "bytes", n)
	}
	a.audit.Add(audit.Entry{User: p.Name, Action: "backup", Params: map[string]int64{"bytes": n}, Result: result})
}
