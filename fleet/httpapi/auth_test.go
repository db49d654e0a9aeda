package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
)

// TestSessionCookieAndCSRF: signing in sets an HttpOnly, SameSite=Strict
// cookie; a state-changing request with the cookie but without the CSRF
// token is refused and changes nothing; with it, it works.
func TestSessionCookieAndCSRF(t *testing.T) {
	e := newEnv(t, Options{})
	resp, s := e.login("bas-operator", testPassword)
	if resp.StatusCode != http.StatusOK || s.cookie == "" || s.csrf == "" {
		t.Fatalf("login: %d cookie=%q csrf=%q", resp.StatusCode, s.cookie, s.csrf)
	}
	var c *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == CookieName {
			c = x
		}
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
		t.Fatalf("cookie flags over plain HTTP: %+v", c)
	}
	al := e.raise("30001", "smoke_alarm")
	noCSRF := s
	noCSRF.noCSRF = true
	if code, b := e.do("POST", "/api/v1/alarms/"+al.ID+"/ack", alarmActionRequest{}, noCSRF); code != http.StatusForbidden || !strings.Contains(string(b), CSRFHeader) {
		t.Fatalf("ack without CSRF: %d %s", code, b)
	}
	wrong := s
	wrong.csrf = "guess"
	if code, _ := e.do("POST", "/api/v1/alarms/"+al.ID+"/ack", alarmActionRequest{}, wrong); code != http.StatusForbidden {
		t.Fatalf("ack with a wrong CSRF token: %d", code)
	}
	if got, _ := e.alarms.Get(al.ID); got.Acked {
		t.Fatal("a refused request acknowledged the alarm")
	}
	code, b := e.do("POST", "/api/v1/alarms/"+al.ID+"/ack", alarmActionRequest{Comment: "on my way"}, s)
	if code != http.StatusOK {
		t.Fatalf("ack with session+CSRF: %d %s", code, b)
	}
	got := decodeTo[alarms.Alarm](t, b)
	if !got.Acked || got.AckedBy != "bas-operator" || got.AckComment != "on my way" || got.AckedAt.IsZero() {
		t.Fatalf("acked alarm: %+v", got)
	}
	// GET needs no CSRF token; signing out ends the session.
	if code, _ := e.do("GET", "/api/v1/me", nil, noCSRF); code != http.StatusOK {
		t.Fatalf("me: %d", code)
	}
	if code, _ := e.do("POST", "/api/v1/logout", nil, s); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/me", nil, s); code != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d", code)
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	e := newEnv(t, Options{TLS: true})
	resp, _ := e.login("viewer", testPassword)
	for _, c := range resp.Cookies() {
		if c.Name == CookieName && !c.Secure {
			t.Fatalf("cookie not Secure with TLS: %+v", c)
		}
	}
}

func TestLoginWrongPasswordAndRateLimit(t *testing.T) {
	e := newEnv(t, Options{LoginPerMinute: 3})
	for i := range 3 {
		resp, s := e.login("viewer", "wrong-password")
		if resp.StatusCode != http.StatusUnauthorized || s.cookie != "" {
			t.Fatalf("attempt %d with a wrong password: %d", i, resp.StatusCode)
		}
	}
	// The 4th attempt within the minute is refused even with the right password.
	if resp, s := e.login("viewer", testPassword); resp.StatusCode != http.StatusTooManyRequests || s.cookie != "" {
		t.Fatalf("4th attempt: %d", resp.StatusCode)
	}
	entries, _ := e.audit.List(audit.Query{})
	var failed, limited int
	for _, en := range entries {
		if en.Action == "login" && en.Result == "failed" {
			failed++
		}
		if en.Action == "login" && en.Result == "rate_limited" {
			limited++
		}
	}
	if failed != 3 || limited != 1 {
		t.Fatalf("audit: %d failed, %d rate-limited sign-ins", failed, limited)
	}
}

// TestPasswordChangeEndsSessions and a deleted user's token stops working.
func TestPasswordChangeAndDeletion(t *testing.T) {
	e := newEnv(t, Options{})
	_, s := e.login("operator", testPassword)
	if code, _ := e.do("POST", "/api/v1/users/operator/password", passwordRequest{Password: "my-new-password"}, s); code != http.StatusNoContent {
		t.Fatalf("own password change: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/me", nil, s); code != http.StatusUnauthorized {
		t.Fatalf("old session after password change: %d", code)
	}
	if resp, _ := e.login("operator", "my-new-password"); resp.StatusCode != http.StatusOK {
		t.Fatalf("login with the new password: %d", resp.StatusCode)
	}
	if code, _ := e.do("DELETE", "/api/v1/users/operator", nil, e.as("admin")); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := e.do("GET", "/api/v1/me", nil, e.as("operator")); code != http.StatusUnauthorized {
		t.Fatalf("deleted user's token: %d", code)
	}
}

// TestBadInput: malformed, oversized, unknown fields, wrong type: 4xx with a
// reason, counted, nothing changed.
func TestBadInput(t *testing.T) {
	e := newEnv(t, Options{MaxBody: 2048})
	before, _ := e.users.List()
	admin := e.as("admin")
	for _, c := range []struct {
		name string
		a    auth
		want int
	}{
		{"malformed", auth{token: admin.token, rawBody: []byte(`{"name": `)}, 400},
		{"unknown field", auth{token: admin.token, rawBody: []byte(`{"name":"x1","password":"long-enough-pw","role":"viewer","colour":"red"}`)}, 400},
		{"trailing data", auth{token: admin.token, rawBody: []byte(`{"name":"x2","password":"long-enough-pw","role":"viewer"} {}`)}, 400},
		{"oversized", auth{token: admin.token, rawBody: []byte(`{"name":"` + strings.Repeat("x", 4096) + `"}`)}, 413},
		{"not JSON", auth{token: admin.token, rawBody: []byte(`name=x`), contentType: "application/x-www-form-urlencoded"}, 415},
		{"bad role", auth{token: admin.token, rawBody: []byte(`{"name":"x3","password":"long-enough-pw","role":"root"}`)}, 400},
		{"short password", auth{token: admin.token, rawBody: []byte(`{"name":"x4","password":"short","role":"viewer"}`)}, 400},
	} {
		code, b := e.do("POST", "/api/v1/users", nil, c.a)
		if code != c.want || !strings.Contains(string(b), `"message"`) {
			t.Errorf("%s: %d %s, want %d with a reason", c.name, code, b, c.want)
		}
	}
	for _, q := range []string{"/api/v1/alarms?sort=colour", "/api/v1/alarms/history?from=yesterday", "/api/v1/offices?online=perhaps", "/api/v1/offices?limit=-1"} {
		if code, _ := e.do("GET", q, nil, admin); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", q, code)
		}
	}
	if code, _ := e.do("POST", "/api/v1/alarms/nope/ack", alarmActionRequest{}, e.as("operator")); code != http.StatusNotFound {
		t.Errorf("ack of an unknown alarm: %d", code)
	}
	after, _ := e.users.List()
	if len(after) != len(before) {
		t.Fatalf("bad requests changed the users: %d -> %d", len(before), len(after))
	}
	counts := e.api.ErrorCounts()
	if counts["bad_request"] < 8 || counts["too_large"] != 1 || counts["unsupported_media_type"] != 1 || counts["not_found"] != 1 {
		t.Fatalf("error counts: %v", counts)
	}
}
