package edge

import (
	"encoding/json"
	"net/http"
)

// rulesRoutes: the process image and the current allocation, read-only.
func (d *Daemon) rulesRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/image", d.handleImage)
	mux.HandleFunc("GET /api/v1/rules", d.handleAllocation)
}

func (d *Daemon) handleAllocation(w http.ResponseWriter, _ *http.Request) {
	if d.rules == nil {
		rulesJSON(w, http.StatusNotFound, map[string]string{"error": "no rules section in the config"})
		return
	}
	rulesJSON(w, http.StatusOK, d.rules.Allocation())
}

func rulesJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
