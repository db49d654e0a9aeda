package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// routeCase builds a request for a route. out selects the variant aimed at
// something outside a Basilicata user's scope (office 10001 in Lazio, a
// fleet-wide user); in-scope variants aim at office 30001 (Potenza, PZ),
// inside every test user's scope.
type routeCase struct {
	req func(e *env, user string, out bool) (path string, body any)
	// scoped: the out variant must be refused (403) for scoped users.
	scoped bool
	// marker: text that appears in the answer only for something out of a
	// Basilicata user's scope (list routes filter instead of refusing).
	marker string
	// fleetOnly: refused to every scoped user.
	fleetOnly bool
	// role, if set, is the role the case needs (stricter than the route's,
	// e.g. another user's password needs admin, one's own only viewer).
	role users.Role
}

var uniq atomic.Int64

func office(out bool) string {
	if out {
		return "10001"
	}
	return "30001"
}

var cases = map[string]routeCase{
	"POST /api/v1/logout": {req: func(*env, string, bool) (string, any) { return "/api/v1/logout", nil }},
	"GET /api/v1/me":      {req: func(*env, string, bool) (string, any) { return "/api/v1/me", nil }},
	"GET /api/v1/status":  {req: func(*env, string, bool) (string, any) { return "/api/v1/status", nil }, fleetOnly: true},
	"GET /api/v1/offices": {req: func(*env, string, bool) (string, any) { return "/api/v1/offices", nil }, marker: "10001"},
	"GET /api/v1/offices/{id}": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out), nil
	}, scoped: true},
	"GET /api/v1/summary":            {req: func(*env, string, bool) (string, any) { return "/api/v1/summary", nil }, marker: "Lazio"},
	"GET /api/v1/alarms":             {req: func(*env, string, bool) (string, any) { return "/api/v1/alarms?sort=severity", nil }, marker: "10001"},
	"GET /api/v1/alarms/history":     {req: func(*env, string, bool) (string, any) { return "/api/v1/alarms/history", nil }, marker: "10001"},
	"GET /api/v1/alarms/export.csv":  {req: func(*env, string, bool) (string, any) { return "/api/v1/alarms/export.csv", nil }, marker: "10001"},
	"POST /api/v1/alarms/{id}/ack":   {req: alarmReq("ack"), scoped: true},
	"POST /api/v1/alarms/{id}/clear": {req: alarmReq("clear"), scoped: true},
	"GET /api/v1/users":              {req: func(*env, string, bool) (string, any) { return "/api/v1/users", nil }, marker: `"name": "operator"`},
	"POST /api/v1/users": {req: func(_ *env, _ string, out bool) (string, any) {
		r := userAddRequest{Name: fmt.Sprint("new", uniq.Add(1)), Password: testPassword, Role: "viewer", Region: "Basilicata", Provinces: []string{"PZ"}}
		if out {
			r.Region, r.Provinces = "", nil // fleet-wide: wider than any scoped admin
		}
		return "/api/v1/users", r
	}, scoped: true},
	"DELETE /api/v1/users/{name}": {req: func(e *env, _ string, out bool) (string, any) {
		return "/api/v1/users/" + e.freshUser(out), nil
	}, scoped: true},
	"POST /api/v1/users/{name}/password": {req: func(e *env, _ string, out bool) (string, any) {
		return "/api/v1/users/" + e.freshUser(out) + "/password", passwordRequest{Password: "a-new-password-1"}
	}, scoped: true, role: users.Admin},
	"GET /api/v1/tokens":  {req: func(*env, string, bool) (string, any) { return "/api/v1/tokens", nil }},
	"POST /api/v1/tokens": {req: func(*env, string, bool) (string, any) { return "/api/v1/tokens", tokenRequest{Name: "script"} }},
	"DELETE /api/v1/tokens/{id}": {req: func(e *env, user string, _ bool) (string, any) {
		_, tok, err := e.users.NewToken(user, "to revoke")
		if err != nil {
			e.t.Fatal(err)
		}
		return "/api/v1/tokens/" + tok.ID, nil
	}},
	"GET /api/v1/backup": {req: func(*env, string, bool) (string, any) { return "/api/v1/backup", nil }, fleetOnly: true},
	"POST /api/v1/offices/{id}/commands": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/commands", commandRequest{Action: "charger_reset", Device: "dev1"}
	}, scoped: true},
	"GET /api/v1/offices/{id}/commands": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/commands", nil
	}, scoped: true},
	"GET /api/v1/commands/{cid}": {req: func(e *env, _ string, out bool) (string, any) {
		o, _ := e.reg.Office(office(out))
		now := time.Now()
		rec, _, err := e.cmds.Send(uplink.Command{ID: fmt.Sprint("c", uniq.Add(1)), Action: "charger_reset", Device: "dev1",
			User: "x", Issued: now, Expires: now.Add(time.Minute)}, o.Place())
		if err != nil {
			e.t.Fatal(err)
		}
		return "/api/v1/commands/" + rec.ID, nil
	}, scoped: true},
	"GET /api/v1/offices/{id}/chart": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/chart?span=7d", nil
	}, scoped: true},
	"GET /api/v1/offices/{id}/sessions": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/sessions", nil
	}, scoped: true},
	"GET /api/v1/offices/{id}/live": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/live", nil
	}, scoped: true},
	"GET /api/v1/offices/{id}/locker-events": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/locker-events", nil
	}, scoped: true},
	"GET /api/v1/sessions/export.csv": {req: func(*env, string, bool) (string, any) { return "/api/v1/sessions/export.csv", nil }},
	"GET /api/v1/offices/{id}/config": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/config", nil
	}, scoped: true},
	"POST /api/v1/offices/{id}/config": {req: func(_ *env, _ string, out bool) (string, any) {
		return "/api/v1/offices/" + office(out) + "/config", configPushRequest{YAML: "office: {id: \"" + office(out) + "\"}\n"}
	}, scoped: true},
	"GET /api/v1/config/templates": {req: func(*env, string, bool) (string, any) { return "/api/v1/config/templates", nil }},
	"PUT /api/v1/config/templates/{name}": {req: func(*env, string, bool) (string, any) {
		return "/api/v1/config/templates/std", templateRequest{Text: "office: {id: \"{{.Office.ID}}\"}\n"}
	}},
	"POST /api/v1/config/rollout": {req: func(e *env, _ string, out bool) (string, any) {
		e.cfgs.PutTemplate("std", "office: {id: \"{{.Office.ID}}\"}\n", "test")
		return "/api/v1/config/rollout", rolloutRequest{Template: "std", Offices: []string{office(out)}}
	}, scoped: true},
	"GET /api/v1/audit": {req: func(*env, string, bool) (string, any) { return "/api/v1/audit", nil }, marker: "10001"},
}

func alarmReq(action string) func(*env, string, bool) (string, any) {
	return func(e *env, _ string, out bool) (string, any) {
		a := e.raise(office(out), fmt.Sprint("k", uniq.Add(1)))
		return "/api/v1/alarms/" + a.ID + "/" + action, alarmActionRequest{Comment: "seen"}
	}
}

// freshUser creates a user to act on: inside PZ, or fleet-wide (out).
func (e *env) freshUser(out bool) string {
	name := fmt.Sprint("target", uniq.Add(1))
	scope := users.Scope{Region: "Basilicata", Provinces: []string{"PZ"}}
	if out {
		scope = users.Scope{}
	}
	if err := e.users.Add(name, testPassword, users.Viewer, scope); err != nil {
		e.t.Fatal(err)
	}
	return name
}

// TestEveryRouteRoleAndScope proves, for every registered route and every
// test user, that the role decides (403 below it) and the scope decides
// (403 for a target outside it, or nothing outside it in a list), that no
// route answers without authentication, and that refusals are audited.
func TestEveryRouteRoleAndScope(t *testing.T) {
	e := newEnv(t, Options{}, testserver.Influx(t))
	for _, id := range []string{"10001", "30001", "30002"} {
		e.raise(id, "water_leak")
		o, _ := e.reg.Office(id)
		e.audit.Add(audit.Entry{User: "someone", Action: "test", Office: id, Region: o.Region, Province: o.Province, Result: "ok"})
	}
	for _, rt := range e.api.Routes() {
		key := rt.Method + " " + rt.Path
		if rt.Role == "" {
			continue // public: tested in TestPublicRoutes
		}
		c, ok := cases[key]
		if !ok {
			t.Errorf("route %s has no access case: add one", key)
			continue
		}
		// Without credentials: 401, for every protected route.
		path, body := c.req(e, "admin", false)
		if code, b := e.do(rt.Method, path, body, auth{}); code != http.StatusUnauthorized || !strings.Contains(string(b), `"unauthenticated"`) {
			t.Errorf("%s without credentials: %d %s", key, code, b)
		}
		need := rt.Role
		if c.role != "" {
			need = c.role
		}
		for _, p := range people {
			scoped := !p.scope.Fleet()
			for _, out := range []bool{false, true} {
				path, body := c.req(e, p.name, out)
				code, b := e.do(rt.Method, path, body, e.as(p.name))
				want := "allowed"
				switch {
				case !p.role.Allows(need):
					want = "refused"
				case scoped && c.fleetOnly:
					want = "refused"
				case scoped && c.scoped && out:
					want = "refused"
				case p.name == "pz-operator" && c.scoped && key == "POST /api/v1/users":
					want = "refused" // an operator never reaches the scope check
				}
				switch want {
				case "refused":
					if code != http.StatusForbidden || !strings.Contains(string(b), `"forbidden"`) {
						t.Errorf("%s as %s (out=%v): %d %s, want 403", key, p.name, out, code, b)
					}
				case "allowed":
					if code < 200 || code > 299 {
						t.Errorf("%s as %s (out=%v): %d %s, want 2xx", key, p.name, out, code, b)
						continue
					}
					if c.marker != "" && scoped && strings.Contains(string(b), c.marker) {
						t.Errorf("%s as %s shows %q, outside the scope: %s", key, p.name, c.marker, b)
					}
					if c.marker != "" && !scoped && p.name == "admin" && !strings.Contains(string(b), c.marker) {
						t.Errorf("%s as fleet admin lacks %q: %s", key, c.marker, b)
					}
				}
			}
		}
	}
	// Refusals are logged and audited.
	refused, err := e.audit.List(audit.Query{User: "bas-operator"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range refused {
		if r.Action == "refused" && r.Result == "forbidden" {
			n++
		}
	}
	if n == 0 || !strings.Contains(e.log.String(), "request refused") {
		t.Fatalf("out-of-scope refusals not audited/logged: %d audit entries", n)
	}
}

func TestPublicRoutes(t *testing.T) {
	e := newEnv(t, Options{})
	for _, rt := range e.api.Routes() {
		if rt.Role != "" || rt.Method != "GET" {
			continue
		}
		if code, _ := e.do("GET", rt.Path, nil, auth{}); code != http.StatusOK {
			t.Errorf("public %s: %d", rt.Path, code)
		}
	}
	// The dashboard's files are public (they hold no data); its data is not.
	if code, b := e.do("GET", "/", nil, auth{}); code != http.StatusOK || !strings.Contains(string(b), "Polis") {
		t.Fatalf("dashboard: %d", code)
	}
	if code, b := e.do("GET", "/api/v1/nothing", nil, e.as("admin")); code != http.StatusNotFound || !strings.Contains(string(b), `"not_found"`) {
		t.Fatalf("unknown API path: %d %s", code, b)
	}
}

// TestProvinceScope: a user scoped to PZ sees Potenza, not Matera (same region).
func TestProvinceScope(t *testing.T) {
	e := newEnv(t, Options{})
	e.raise("30002", "smoke_alarm")
	_, b := e.do("GET", "/api/v1/offices", nil, e.as("pz-operator"))
	if !strings.Contains(string(b), "30001") || strings.Contains(string(b), "30002") {
		t.Fatalf("PZ operator sees: %s", b)
	}
	if code, _ := e.do("GET", "/api/v1/offices/30002", nil, e.as("pz-operator")); code != http.StatusForbidden {
		t.Fatalf("PZ operator reading MT office: %d", code)
	}
	_, b = e.do("GET", "/api/v1/alarms", nil, e.as("pz-operator"))
	if strings.Contains(string(b), "30002") {
		t.Fatalf("PZ operator sees MT alarms: %s", b)
	}
	_, b = e.do("GET", "/api/v1/alarms", nil, e.as("bas-operator"))
	if !strings.Contains(string(b), "30002") {
		t.Fatalf("Basilicata operator misses MT alarm: %s", b)
	}
}
