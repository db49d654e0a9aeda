package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polis-edge/polis/edge/config"
)

func authGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOperatorRoutesAuthenticateAndAudit(t *testing.T) {
	dir := dataDir(t)
	tokFile := filepath.Join(t.TempDir(), "installer.token")
	os.WriteFile(tokFile, []byte("installer-token-0123456789\n"), 0o600)
	cfg := edgeConfig(t, dir, "")
	cfg.HTTP.Operators = []config.Operator{
		{Name: "installer", TokenFile: tokFile, Role: "operator"},
		{Name: "guest", Token: "guest-token-0123456789", Role: "viewer"},
	}
	d, _ := startEdge(t, cfg)
	base := "http://" + d.HTTPAddr()

	if code, _ := authGet(t, base+"/api/v1/audit", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: got %d, want 401", code)
	}
	if code, _ := authGet(t, base+"/api/v1/audit", "installer-token-0123456788"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: got %d, want 401", code)
	}

	// The role check: a viewer reaches viewer routes, not operator ones.
	guest := Operator{Name: "guest", Role: "viewer"}
	installer := Operator{Name: "installer", Role: "operator"}
	probe := d.operatorOnly("operator", func(w http.ResponseWriter, _ *http.Request, op Operator) {
		writeJSON(w, 200, op)
	})
	for _, c := range []struct {
		token string
		want  int
	}{{"guest-token-0123456789", 403}, {"installer-token-0123456789", 200}} {
		req, _ := http.NewRequest("POST", "/x", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		rec := httptest.NewRecorder()
		probe(rec, req)
		if rec.Code != c.want {
			t.Fatalf("token %s: got %d, want %d (%s)", c.token, rec.Code, c.want, rec.Body.String())
		}
	}

	for i := 0; i < 3; i++ {
		d.audit(installer, "open_compartment", fmt.Sprintf("bank1/%d", i), map[string]int{"n": i}, "done", nil)
	}
	d.audit(guest, "set_mode", "cp1/1", nil, "refused", errors.New("not allowed"))

	code, body := authGet(t, base+"/api/v1/audit?limit=3", "guest-token-0123456789")
	if code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	type auditPage struct {
		Entries    []AuditEntry `json:"entries"`
		NextBefore uint64       `json:"next_before"`
	}
	var page auditPage
	json.Unmarshal([]byte(body), &page)
	if len(page.Entries) != 3 || page.Entries[0].Action != "set_mode" || page.Entries[0].Error != "not allowed" || page.NextBefore == 0 {
		t.Fatalf("first page newest first with a cursor, got %+v", page)
	}
	_, body = authGet(t, fmt.Sprintf("%s/api/v1/audit?limit=3&before=%d", base, page.NextBefore), "guest-token-0123456789")
	page = auditPage{}
	json.Unmarshal([]byte(body), &page)
	if len(page.Entries) != 1 || page.Entries[0].Target != "bank1/0" || page.NextBefore != 0 {
		t.Fatalf("second page should hold the oldest entry and end: %+v", page)
	}
	if n := d.buf.Stats().Count; n < 4 {
		t.Fatalf("each audited action is an event in the buffer: %d samples", n)
	}
}

func TestOperatorConfigRejectsWeakOrAmbiguousTokens(t *testing.T) {
	for _, yml := range []string{
		"http: {operators: [{name: a, token: short, role: operator}]}",
		"http: {operators: [{name: a, token: 0123456789abcdef, token_file: x, role: operator}]}",
		"http: {operators: [{name: a, token: 0123456789abcdef, role: root}]}",
		"http: {operators: [{name: a, token: 0123456789abcdef, role: viewer}, {name: a, token: 0123456789abcdeg, role: viewer}]}",
	} {
		if _, err := config.Parse([]byte(yml)); err == nil || !strings.Contains(err.Error(), "http.operators") {
			t.Errorf("%s: want an error naming http.operators, got %v", yml, err)
		}
	}
}
