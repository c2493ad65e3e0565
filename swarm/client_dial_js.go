//go:build js && wasm

package swarm

import (
	"errors"

	"github.com/coder/websocket"
)

// dialOptions: in a tab the browser sets Origin itself (and the server's
// allowlist decides on it); a page cannot choose it.
func dialOptions(cfg *ClientConfig) (*websocket.DialOptions, error) {
	if cfg.Origin != "" {
		return nil, errors.New("swarm: client: Origin cannot be set in a browser; the page's origin is used")
	}
	return &websocket.DialOptions{}, nil
}
