package httpapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes: the served description lists exactly the
// registered routes, with the role each needs.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, Options{})
	code, b := e.do("GET", "/api/v1/openapi.json", nil, auth{})
	if code != http.StatusOK {
		t.Fatalf("openapi.json: %d", code)
	}
	var spec struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Role string `json:"x-polis-role"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &spec); err != nil || !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("not OpenAPI 3: %v %q", err, spec.OpenAPI)
	}
	described := map[string]string{}
	for path, ops := range spec.Paths {
		for method, op := range ops {
			described[strings.ToUpper(method)+" "+path] = op.Role
		}
	}
	var missing, wrong []string
	for _, r := range e.api.Routes() {
		key := r.Method + " " + r.Path
		role, ok := described[key]
		switch {
		case !ok:
			missing = append(missing, key)
		case role != string(r.Role):
			wrong = append(wrong, key+": described "+role+", needs "+string(r.Role))
		}
		delete(described, key)
	}
	var extra []string
	for k := range described {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	if len(missing)+len(wrong)+len(extra) > 0 {
		t.Fatalf("openapi.json out of date:\n undocumented routes: %v\n wrong roles: %v\n described but not served: %v", missing, wrong, extra)
	}
}
