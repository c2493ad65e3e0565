//go:build js && wasm

package node

import "github.com/pion/webrtc/v4"

// newAPI: in a tab pion wraps the browser's RTCPeerConnection, which gathers
// its own candidates with its own timing; LinkConfig's IPFilter and ICE
// timeouts do not apply there.
func newAPI(cfg *LinkConfig) *webrtc.API {
	return webrtc.NewAPI()
}
