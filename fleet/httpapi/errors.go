package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// APIError is the one shape of every error answer:
//
//	{"error": {"status": 403, "code": "forbidden", "message": "office 10001 is outside your scope (region Basilicata)"}}
type APIError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorBody struct {
	Error APIError `json:"error"`
}

// codes names each status; clients switch on code, people read message.
var codes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusInternalServerError:   "internal",
	http.StatusServiceUnavailable:    "unavailable",
}

// errorCounts counts error answers by code, for /api/v1/status.
type errorCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *errorCounts) add(code string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[code]++
	c.mu.Unlock()
}

// Snapshot returns the counts by code.
func (c *errorCounts) Snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (a *API) fail(w http.ResponseWriter, status int, format string, args ...any) {
	code := codes[status]
	if code == "" {
		code = fmt.Sprintf("http_%d", status)
	}
	a.errors.add(code)
	writeJSON(w, status, errorBody{APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads a JSON body into v: JSON content type, at most maxBody bytes,
// unknown fields and trailing data refused. On failure it has answered.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		a.fail(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.opt.MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		a.fail(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", tooBig.Limit)
		return false
	case err != nil:
		a.fail(w, http.StatusBadRequest, "body: %v", err)
		return false
	}
	return true
}
