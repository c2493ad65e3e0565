//go:build !js

package node

import (
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// newAPI configures pion for host-only, IPv4 UDP links: loopback candidates
// included (native nodes on one machine talk over 127.0.0.1), no mDNS names
// (candidates carry plain addresses), the optional address filter, and ICE
// timing short enough to notice a killed peer within seconds. No STUN or
// TURN servers are configured by the caller.
func newAPI(cfg *LinkConfig) *webrtc.API {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.IPFilter != nil {
		se.SetIPFilter(cfg.IPFilter)
	}
	se.SetICETimeouts(cfg.ICEDisconnected, cfg.ICEFailed, cfg.ICEKeepalive)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}
