//go:build !js

package swarm

import (
	"net/http"

	"github.com/coder/websocket"
)

// dialOptions sets the Origin header a native peer presents, if configured.
func dialOptions(cfg *ClientConfig) (*websocket.DialOptions, error) {
	opts := &websocket.DialOptions{}
	if cfg.Origin != "" {
		opts.HTTPHeader = http.Header{"Origin": []string{cfg.Origin}}
	}
	return opts, nil
}
