// Package httpapi serves the fleet's HTTP interface: probes, Prometheus
// metrics, the JSON API and the facility managers' dashboard.
package httpapi

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/polis-edge/polis/fleet/registry"
)

// Source is what the API reads from the running fleet.
type Source interface {
	Offices(registry.Filter) []registry.Office
	Office(id string) (registry.Office, bool)
	Alarms() []registry.Alarm
	Ready(ctx context.Context) error
	WriteMetrics(w io.Writer) error
	StatusJSON() any
}

//go:embed web
var web embed.FS

// New returns the handler for all routes.
func New(src Source, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := src.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		if err := src.WriteMetrics(&buf); err != nil {
			log.Warn("write metrics", "err", err)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, src.StatusJSON())
	})
	mux.HandleFunc("GET /api/v1/offices", func(w http.ResponseWriter, r *http.Request) {
		f, err := filter(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, src.Offices(f))
	})
	mux.HandleFunc("GET /api/v1/offices/{id}", func(w http.ResponseWriter, r *http.Request) {
		o, ok := src.Office(r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown office " + r.PathValue("id")})
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
	mux.HandleFunc("GET /api/v1/alarms", func(w http.ResponseWriter, _ *http.Request) {
		a := src.Alarms()
		if a == nil {
			a = []registry.Alarm{}
		}
		writeJSON(w, http.StatusOK, a)
	})
	static, _ := fs.Sub(web, "web")
	mux.Handle("GET /", http.FileServerFS(static))
	return mux
}

// filter reads ?region=&province=&online=true|false.
func filter(r *http.Request) (registry.Filter, error) {
	q := r.URL.Query()
	f := registry.Filter{Region: q.Get("region"), Province: q.Get("province")}
	if s := q.Get("online"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return f, err
		}
		f.Online = &b
	}
	return f, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
