//go:build !js

// The server runs natively only; tabs use the client.

package swarm

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// normalizeOrigin turns "https://Example.com:443/" into "https://example.com"
// so that allowlist entries and Origin headers compare exactly. Only http and
// https origins exist for our pages.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("origin %q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("origin %q: want scheme://host[:port] only", s)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// originPolicy admits WebSocket upgrades by their Origin header.
type originPolicy struct {
	allowed map[string]bool // normalized origins
}

func newOriginPolicy(list []string) (*originPolicy, error) {
	p := &originPolicy{allowed: make(map[string]bool, len(list))}
	for _, o := range list {
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("allowed origins: %w", err)
		}
		p.allowed[n] = true
	}
	return p, nil
}

// check admits a request when it carries no Origin (not a browser: native
// nodes; the join token still guards the swarm), when the Origin is the
// server's own host (same-origin pages), or when the allowlist names it.
// Browsers always send Origin on WebSocket upgrades and scripts cannot forge
// it, which is what makes this an admission control for cross-origin tabs.
func (p *originPolicy) check(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	n, err := normalizeOrigin(origin)
	if err != nil {
		return err
	}
	if p.allowed[n] {
		return nil
	}
	u, _ := url.Parse(n)
	if strings.EqualFold(u.Host, r.Host) || strings.EqualFold(u.Host, stripDefaultPort(r.Host, u.Scheme)) {
		return nil
	}
	return fmt.Errorf("origin %q is not allowed", origin)
}

func stripDefaultPort(host, scheme string) string {
	if scheme == "http" {
		return strings.TrimSuffix(host, ":80")
	}
	return strings.TrimSuffix(host, ":443")
}
