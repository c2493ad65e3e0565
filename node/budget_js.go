//go:build js && wasm

package node

import "syscall/js"

// defaultBudget offers a quarter of navigator.deviceMemory (GiB, which
// browsers round and cap at 8), and never more than 1.5 GiB: a tab's wasm
// memory dies near 4 GiB and its GPU buffers count against the same device.
func defaultBudget() uint64 {
	gib := 4.0
	if v := js.Global().Get("navigator").Get("deviceMemory"); v.Type() == js.TypeNumber {
		gib = v.Float()
	}
	return min(uint64(gib*(1<<30)/4), 3<<29)
}
