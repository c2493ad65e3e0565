//go:build !js

package hub

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// corsPolicy lets pages of allowed origins read the model endpoints (tabs
// served from another origin fetch blobs cross-origin). A browser request
// from any other origin is refused outright, so its bytes are never sent.
// Requests without Origin (native nodes, same-origin navigation) pass.
type corsPolicy struct {
	allowed map[string]bool // normalized origins
}

func newCORSPolicy(origins []string) (*corsPolicy, error) {
	p := &corsPolicy{allowed: make(map[string]bool, len(origins))}
	for _, o := range origins {
		n, ok := normalizeOrigin(o)
		if !ok {
			return nil, fmt.Errorf("allowed origin %q: want scheme://host[:port]", o)
		}
		p.allowed[n] = true
	}
	return p, nil
}

// normalizeOrigin lower-cases scheme and host and drops default ports, the
// same comparison the WebSocket allowlist makes.
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// admit decides a request: ok=false refuses it; cors=true means the
// response needs CORS headers for origin.
func (p *corsPolicy) admit(r *http.Request) (origin string, cors, ok bool) {
	raw := r.Header.Get("Origin")
	if raw == "" {
		return "", false, true
	}
	o, valid := normalizeOrigin(raw)
	if !valid {
		return "", false, false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if self, _ := normalizeOrigin(scheme + "://" + r.Host); o == self {
		return o, false, true
	}
	if p.allowed[o] {
		return o, true, true
	}
	return o, false, false
}

func (p *corsPolicy) headers(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	// Fetch hides these from cross-origin scripts unless exposed; the
	// fetcher needs them to resume and to show progress.
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag")
}

// wrap applies the policy to a GET handler.
func (p *corsPolicy) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin, cors, ok := p.admit(r)
		if !ok {
			http.Error(w, fmt.Sprintf("origin %q is not allowed", r.Header.Get("Origin")), http.StatusForbidden)
			return
		}
		// Every answer varies by Origin, also one to a request without it:
		// a browser would otherwise serve a same-origin tab's cached copy
		// (no CORS headers) to a tab of another, allowed origin.
		w.Header().Add("Vary", "Origin")
		if cors {
			p.headers(w, origin)
		}
		h(w, r)
	}
}

// preflight answers OPTIONS: Range is not always a CORS-safelisted header.
func (p *corsPolicy) preflight(w http.ResponseWriter, r *http.Request) {
	origin, cors, ok := p.admit(r)
	if !ok || !cors {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	p.headers(w, origin)
	w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD")
	w.Header().Set("Access-Control-Allow-Headers", "Range")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}
