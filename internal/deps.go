//go:build tools

// Package internal pins the modules the project is built on, so that go.mod
// names them before the code that uses them lands.
package internal

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/coder/websocket"
	_ "github.com/gogpu/wgpu"
	_ "github.com/pion/webrtc/v4"
)
