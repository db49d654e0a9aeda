package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/polis-edge/polis/fleet/alarms"
	"github.com/polis-edge/polis/fleet/audit"
	"github.com/polis-edge/polis/fleet/commands"
	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/history"
	"github.com/polis-edge/polis/fleet/registry"
	"github.com/polis-edge/polis/fleet/remoteconfig"
	"github.com/polis-edge/polis/fleet/state"
	"github.com/polis-edge/polis/fleet/users"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

// regSource serves the real registry to the API (the fleet does the same
// plus probes and metrics, which these tests do not need).
type regSource struct{ *registry.Registry }

func (regSource) Ready(context.Context) error  { return nil }
func (regSource) WriteMetrics(io.Writer) error { return nil }
func (regSource) StatusJSON() any              { return map[string]string{"instance": "test"} }

var officeList = []config.Office{
	{ID: "10001", Name: "Rocca di Papa", Province: "RM", Region: "Lazio"},
	{ID: "30001", Name: "Potenza Centro", Province: "PZ", Region: "Basilicata"},
	{ID: "30002", Name: "Matera Sassi", Province: "MT", Region: "Basilicata"},
}

type env struct {
	t      testing.TB
	api    *API
	srv    *httptest.Server
	users  *users.Users
	audit  *audit.Log
	alarms *alarms.Manager
	reg    *registry.Registry
	st     *state.Bolt
	tokens map[string]string // user -> API token
	cmds   *commands.Commands
	cfgs   *remoteconfig.Configs
	sent   published
	log    *testserver.SyncBuffer
}

// people: one per role and scope the tests prove.
var people = []struct {
	name  string
	role  users.Role
	scope users.Scope
}{
	{"viewer", users.Viewer, users.Scope{}},
	{"operator", users.Operator, users.Scope{}},
	{"admin", users.Admin, users.Scope{}},
	{"bas-viewer", users.Viewer, users.Scope{Region: "Basilicata"}},
	{"bas-operator", users.Operator, users.Scope{Region: "Basilicata"}},
	{"bas-admin", users.Admin, users.Scope{Region: "Basilicata"}},
	{"pz-operator", users.Operator, users.Scope{Region: "Basilicata", Provinces: []string{"PZ"}}},
}

const testPassword = "correct-horse-battery"

// newEnv builds the API on a fresh state file; with in, history queries
// go to that InfluxDB, without it they fail (as with InfluxDB down).
func newEnv(t testing.TB, opt Options, in ...*testserver.InfluxDB) *env {
	t.Helper()
	influx := config.Influx{URL: "http://127.0.0.1:1", Bucket: "polis/autogen", Timeout: time.Second}
	if len(in) > 0 {
		influx = config.Influx{URL: in[0].URL, Token: in[0].Token, Bucket: in[0].Bucket, Timeout: 10 * time.Second}
	}
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lb := &testserver.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(lb, nil))
	e := &env{t: t, st: st, users: users.New(st), audit: audit.New(st, log), tokens: map[string]string{}, log: lb}
	e.users.SetCost(bcrypt.MinCost)
	e.alarms, err = alarms.New(st, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	e.reg = registry.New(officeList, 20, e.alarms)
	for _, o := range officeList {
		e.reg.RecordStatus(o.ID, uplink.Status{Office: o.ID, Online: true, Devices: map[string]string{"dev1": "ok"}}, time.Now())
	}
	e.cfgs = remoteconfig.New(st, &e.sent, log)
	e.cmds, err = commands.New(st, &e.sent, time.Minute, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range people {
		if err := e.users.Add(p.name, testPassword, p.role, p.scope); err != nil {
			t.Fatal(err)
		}
		e.tokens[p.name], _, err = e.users.NewToken(p.name, "test")
		if err != nil {
			t.Fatal(err)
		}
	}
	if opt.SessionTTL == 0 {
		opt.SessionTTL = time.Hour
	}
	if opt.MaxBody == 0 {
		opt.MaxBody = 1 << 16
	}
	if opt.LoginPerMinute == 0 {
		opt.LoginPerMinute = 1000
	}
	e.api = New(Deps{Source: regSource{e.reg}, Users: e.users, Audit: e.audit, Alarms: e.alarms, Commands: e.cmds, Backup: st.Backup, Configs: e.cfgs,
		History: history.New(influx)}, opt, log)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// raise opens an alarm in office id and returns it.
func (e *env) raise(id, kind string) alarms.Alarm {
	e.t.Helper()
	o, _ := e.reg.Office(id)
	a, err := e.alarms.Raise(alarms.Condition{Place: o.Place(), Device: "dev1", Kind: kind, Severity: alarms.Critical, Message: kind})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// published records what the API's commands would put on the broker.
type published struct {
	mu     sync.Mutex
	topics []string
}

func (p *published) Publish(topic string, _ []byte, _ byte, _ bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.topics = append(p.topics, topic)
	return nil
}

type auth struct {
	token        string
	cookie, csrf string
	noCSRF       bool
	contentType  string
	rawBody      []byte
}

// do makes one request and returns status and body.
func (e *env) do(method, path string, body any, a auth) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch {
	case a.rawBody != nil:
		rd = bytes.NewReader(a.rawBody)
	case body != nil:
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
		if a.contentType != "" {
			req.Header.Set("Content-Type", a.contentType)
		}
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if a.cookie != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: a.cookie})
		if !a.noCSRF {
			req.Header.Set(CSRFHeader, a.csrf)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) as(user string) auth { return auth{token: e.tokens[user]} }

// login signs in through the API and returns the session cookie and CSRF token.
func (e *env) login(user, password string) (*http.Response, auth) {
	e.t.Helper()
	b, _ := json.Marshal(loginRequest{User: user, Password: password})
	resp, err := http.Post(e.srv.URL+"/api/v1/login", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m me
	json.NewDecoder(resp.Body).Decode(&m)
	a := auth{csrf: m.CSRF}
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			a.cookie = c.Value
		}
	}
	return resp, a
}

func decodeTo[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}
