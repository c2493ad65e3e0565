//go:build !js

// The server runs natively only; tabs use the client.

package swarm

import (
	"encoding/json"
	"net/http"
)

// StatusReport is the body of GET /api/swarm.
type StatusReport struct {
	Swarms []SwarmView `json:"swarms"`
}

// StatusHandler serves the state of every swarm (or of ?swarm=name) as JSON:
// peers, their measured capabilities, assignments, readiness and reported
// status. Tokens are never included. It is read-only and meant for the
// dashboard; put it behind the same Origin/TLS front as the rest.
func (s *Server) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var rep StatusReport
		if name := r.URL.Query().Get("swarm"); name != "" {
			v, ok := s.Swarm(name)
			if !ok {
				http.Error(w, "no such swarm", http.StatusNotFound)
				return
			}
			rep.Swarms = []SwarmView{v}
		} else {
			rep.Swarms = s.Swarms()
		}
		body, err := json.Marshal(rep)
		if err != nil {
			http.Error(w, "encoding status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
}
