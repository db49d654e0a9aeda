package httpapi

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/users"
)

// CookieName is the session cookie; CSRFHeader must echo the session's CSRF
// token on every state-changing request made with that cookie.
const (
	CookieName = "polis_session"
	CSRFHeader = "X-CSRF-Token"
)

// Principal is who makes a request.
type Principal struct {
	users.User
	Via       string // "session" or "token"
	sessionID string
	CSRF      string
}

// Allowed is the principal's scope check on a place.
func (p *Principal) Allowed(pl alarms.Place) bool { return p.Scope.Allows(pl.Region, pl.Province) }

// handler is a route that needs a signed-in principal.
type handler func(w http.ResponseWriter, r *http.Request, p *Principal)

// authenticate finds the principal of r: a bearer API token, else the
// session cookie.
func (a *API) authenticate(r *http.Request) (*Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, errors.New("Authorization must be \"Bearer <token>\"")
		}
		u, err := a.users.TokenUser(strings.TrimSpace(secret))
		if err != nil {
			return nil, errors.New("unknown or revoked API token")
		}
		return &Principal{User: u, Via: "token"}, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, errors.New("sign in first")
	}
	s, u, err := a.users.Session(c.Value)
	if err != nil {
		return nil, errors.New("session expired or signed out: sign in again")
	}
	return &Principal{User: u, Via: "session", sessionID: c.Value, CSRF: s.CSRF}, nil
}

// protect wraps h: authentication (401), role (403), CSRF for cookie
// sessions on state-changing methods (403). Refusals are logged and counted.
func (a *API) protect(need users.Role, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			a.fail(w, http.StatusUnauthorized, "%v", err)
			return
		}
		if !p.Role.Allows(need) {
			a.forbidden(w, r, p, "needs role %s, you are %s", need, p.Role)
			return
		}
		if p.Via == "session" && r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get(CSRFHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
				a.forbidden(w, r, p, "missing or wrong %s header", CSRFHeader)
				return
			}
		}
		h(w, r, p)
	}
}

// forbidden answers 403, logs it and puts it in the audit trail.
func (a *API) forbidden(w http.ResponseWriter, r *http.Request, p *Principal, format string, args ...any) {
	a.fail(w, http.StatusForbidden, format, args...)
	a.log.Warn("request refused", "user", p.Name, "role", p.Role, "scope", p.Scope.String(), "method", r.Method, "path", r.URL.Path)
	a.audit.Add(audit.Entry{User: p.Name, Action: "refused", Target: r.Method + " " + r.URL.Path, Result: "forbidden"})
}

// inScope answers 403 and returns false when pl is outside p's scope.
func (a *API) inScope(w http.ResponseWriter, r *http.Request, p *Principal, pl alarms.Place) bool {
	if p.Allowed(pl) {
		return true
	}
	a.forbidden(w, r, p, "office %s is outside your scope (%s)", pl.Office, p.Scope)
	return false
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

type me struct {
	users.User
	CSRF string `json:"csrf,omitempty"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if !a.limits.allow(ip) {
		a.fail(w, http.StatusTooManyRequests, "too many sign-in attempts from %s: wait a minute", ip)
		a.audit.Add(audit.Entry{User: "", Action: "login", Target: ip, Result: "rate_limited"})
		return
	}
	var req loginRequest
	if !a.decode(w, r, &req) {
		return
	}
	u, err := a.users.Authenticate(req.User, req.Password)
	if err != nil {
		a.fail(w, http.StatusUnauthorized, "%v", err)
		a.audit.Add(audit.Entry{User: req.User, Action: "login", Target: ip, Result: "failed"})
		return
	}
	id, s, err := a.users.NewSession(u.Name, a.opt.SessionTTL)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, "store session: %v", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", Expires: s.Expires,
		HttpOnly: true, Secure: a.opt.TLS, SameSite: http.SameSiteStrictMode})
	a.audit.Add(audit.Entry{User: u.Name, Action: "login", Target: ip, Result: "ok"})
	writeJSON(w, http.StatusOK, me{User: u, CSRF: s.CSRF})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, p *Principal) {
	if p.sessionID != "" {
		a.users.EndSession(p.sessionID)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.opt.TLS, SameSite: http.SameSiteStrictMode})
	a.audit.Add(audit.Entry{User: p.Name, Action: "logout", Result: "ok"})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) whoami(w http.ResponseWriter, _ *http.Request, p *Principal) {
	writeJSON(w, http.StatusOK, me{User: p.User, CSRF: p.CSRF})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimits is one token bucket per client address.
type loginLimits struct {
	mu     sync.Mutex
	per    int
	bucket map[string]*limitEntry
}

type limitEntry struct {
	l    *rate.Limiter
	used time.Time
}

func (l *loginLimits) allow(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.bucket) > 10000 { // forget idle addresses so the map stays bounded
		for k, e := range l.bucket {
			if now.Sub(e.used) > 10*time.Minute {
				delete(l.bucket, k)
			}
		}
	}
	e := l.bucket[ip]
	if e == nil {
		e = &limitEntry{l: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.per)), l.per)}
		l.bucket[ip] = e
	}
	e.used = now
	return e.l.AllowN(now, 1)
}
