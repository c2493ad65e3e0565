package swarm

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func strp(s string) *string { return &s }
func u16p(v uint16) *uint16 { return &v }

// goldenCases has one message of every type. Their encodings are fixed in
// testdata/golden: a change to the wire format shows up as a diff there.
func goldenCases() map[string]Body {
	return map[string]Body{
		"join_node": &Join{Swarm: "austen", Token: "s3cret-token", Role: RoleNode, Capabilities: &Capabilities{
			Backend:           "webgpu",
			Adapter:           AdapterInfo{Vendor: "google", Architecture: "swiftshader", Description: "SwiftShader Device (Subzero)", Fallback: true},
			MemoryBudgetBytes: 2 << 30,
			MatmulGFLOPS:      12.5,
			MatvecGBps:        0.9,
			MaxBufferSize:     1 << 30,
			MaxBindingSize:    128 << 20,
			CPUCores:          8,
			LatencyMillis:     0.75,
		}},
		"join_client": &Join{Swarm: "austen", Token: "s3cret-token", Role: RoleClient},
		"welcome": &Welcome{Peer: "p-0123456789abcdef", Swarm: "austen", HeartbeatMillis: 5000,
			HeartbeatTimeoutMillis: 15000, MaxMessageBytes: 65536},
		"assign": &Assign{Epoch: 3, Manifest: ManifestRef{URL: "/models/austen-22m/manifest.json",
			SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
			TotalLayers: 8, Stage: 1, Pipeline: []PipelineStage{
				{Peer: "p-a", Layers: LayerRange{0, 3}},
				{Peer: "p-b", Layers: LayerRange{3, 6}},
				{Peer: "p-c", Layers: LayerRange{6, 8}},
			}},
		"offer":  &Offer{Route: Route{To: "p-b", Link: "l-1"}, SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"},
		"answer": &Answer{Route: Route{From: "p-a", Link: "l-1"}, SDP: "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\n"},
		"candidate": &Candidate{Route: Route{To: "p-b", Link: "l-1"},
			Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", SDPMid: strp("0"), SDPMLineIndex: u16p(0)},
		"ready":     &Ready{Epoch: 3},
		"status":    &Status{Epoch: 3, State: StateLoading, LoadedBytes: 1 << 20, TotalBytes: 8 << 20, HeapBytes: 30 << 20, Message: "layer 4 of 8"},
		"heartbeat": &Heartbeat{Seq: 42},
		"leave":     &Leave{Reason: "tab closed"},
		"error":     &Error{Code: CodeJoinRefused, Message: "unknown swarm or wrong token"},
	}
}

func TestGolden(t *testing.T) {
	for name, want := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", name+".json")
			enc, err := Encode(want)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(path, append(enc, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golden = []byte(strings.TrimSuffix(string(golden), "\n"))
			if string(enc) != string(golden) {
				t.Errorf("encoding changed:\n got %s\nwant %s", enc, golden)
			}
			got, err := Decode(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decode: got %#v, want %#v", got, want)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	okAssign := `"manifest":{"url":"/m","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},"total_layers":8`
	cases := []struct{ name, msg, want string }{
		{"empty", ``, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"wrong version", `{"v":2,"type":"leave","body":{}}`, "version 2"},
		{"no version", `{"type":"leave","body":{}}`, "version 0"},
		{"unknown type", `{"v":1,"type":"shout","body":{}}`, "unknown message type"},
		{"unknown envelope field", `{"v":1,"type":"leave","body":{},"x":1}`, "unknown field"},
		{"unknown body field", `{"v":1,"type":"leave","body":{"reason":"a","x":1}}`, "unknown field"},
		{"null body", `{"v":1,"type":"leave","body":null}`, "body must be a JSON object"},
		{"missing body", `{"v":1,"type":"leave"}`, "body must be a JSON object"},
		{"trailing", `{"v":1,"type":"leave","body":{}} {}`, "trailing data"},
		{"bad swarm", `{"v":1,"type":"join","body":{"swarm":"a b","token":"t","role":"client"}}`, "swarm"},
		{"empty token", `{"v":1,"type":"join","body":{"swarm":"a","token":"","role":"client"}}`, "token"},
		{"bad role", `{"v":1,"type":"join","body":{"swarm":"a","token":"t","role":"king"}}`, "role"},
		{"node without caps", `{"v":1,"type":"join","body":{"swarm":"a","token":"t","role":"node"}}`, "capabilities"},
		{"negative gflops", `{"v":1,"type":"join","body":{"swarm":"a","token":"t","role":"node","capabilities":{"backend":"cpu","adapter":{},"memory_budget_bytes":1,"matmul_gflops":-1,"matvec_gbps":0,"max_buffer_size":0,"max_binding_size":0,"cpu_cores":1,"latency_ms":0}}}`, "matmul_gflops"},
		{"huge budget", `{"v":1,"type":"join","body":{"swarm":"a","token":"t","role":"node","capabilities":{"backend":"cpu","adapter":{},"memory_budget_bytes":18446744073709551615,"matmul_gflops":1,"matvec_gbps":0,"max_buffer_size":0,"max_binding_size":0,"cpu_cores":1,"latency_ms":0}}}`, "memory_budget_bytes"},
		{"int overflow", `{"v":1,"type":"heartbeat","body":{"seq":-1}}`, "cannot unmarshal"},
		{"gap in layers", `{"v":1,"type":"assign","body":{"epoch":1,` + okAssign + `,"pipeline":[{"peer":"a","layers":{"start":0,"end":3}},{"peer":"b","layers":{"start":4,"end":8}}],"stage":0}}`, "starting at 3"},
		{"short coverage", `{"v":1,"type":"assign","body":{"epoch":1,` + okAssign + `,"pipeline":[{"peer":"a","layers":{"start":0,"end":3}}],"stage":0}}`, "covers layers [0,3) of 8"},
		{"duplicate peer", `{"v":1,"type":"assign","body":{"epoch":1,` + okAssign + `,"pipeline":[{"peer":"a","layers":{"start":0,"end":3}},{"peer":"a","layers":{"start":3,"end":8}}],"stage":0}}`, "twice"},
		{"stage out of range", `{"v":1,"type":"assign","body":{"epoch":1,` + okAssign + `,"pipeline":[{"peer":"a","layers":{"start":0,"end":8}}],"stage":1}}`, "stage"},
		{"no route", `{"v":1,"type":"offer","body":{"link":"l","sdp":"v=0"}}`, "neither to nor from"},
		{"bad link", `{"v":1,"type":"offer","body":{"to":"p","link":"","sdp":"v=0"}}`, "link"},
		{"binary sdp", `{"v":1,"type":"offer","body":{"to":"p","link":"l","sdp":"v=0\u0000"}}`, "not printable"},
		{"multi-line candidate", `{"v":1,"type":"candidate","body":{"to":"p","link":"l","candidate":"a\nb"}}`, "one line"},
		{"unknown state", `{"v":1,"type":"status","body":{"epoch":1,"state":"bored"}}`, "state"},
		{"loaded exceeds total", `{"v":1,"type":"status","body":{"epoch":1,"state":"loading","loaded_bytes":2,"total_bytes":1}}`, "exceeds total"},
		{"control char", `{"v":1,"type":"leave","body":{"reason":"a\u0007"}}`, "control character"},
		{"unknown error code", `{"v":1,"type":"error","body":{"code":"oops"}}`, "code"},
		{"welcome timeout", `{"v":1,"type":"welcome","body":{"peer":"p","swarm":"s","heartbeat_ms":5000,"heartbeat_timeout_ms":5000,"max_message_bytes":65536}}`, "heartbeat_timeout_ms"},
		{"oversized", `{"v":1,"type":"leave","body":{"reason":"` + strings.Repeat("a", MaxMessageBytes) + `"}}`, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Decode([]byte(c.msg))
			if err == nil {
				t.Fatalf("accepted %#v", b)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	if _, err := Encode(&Join{Swarm: "a", Token: "t", Role: "bogus"}); err == nil {
		t.Fatal("encoded an invalid join")
	}
	if _, err := Encode(nil); err == nil {
		t.Fatal("encoded nil")
	}
	if _, err := Encode(&Offer{Route: Route{To: "p", Link: "l"}, SDP: strings.Repeat("a", MaxSDPLen+1)}); err == nil {
		t.Fatal("encoded an oversized SDP")
	}
}

func TestAssignNeighbours(t *testing.T) {
	a := goldenCases()["assign"].(*Assign)
	if a.Prev() != "p-a" || a.Next() != "p-c" || a.Layers() != (LayerRange{3, 6}) {
		t.Fatalf("stage 1: prev %q next %q layers %v", a.Prev(), a.Next(), a.Layers())
	}
	a.Stage = 0
	if a.Prev() != "p-c" || a.Next() != "p-b" {
		t.Fatalf("stage 0 (ring): prev %q next %q", a.Prev(), a.Next())
	}
	a.Stage = -1
	if a.Prev() != "" || a.Next() != "" || a.Layers().Len() != 0 {
		t.Fatal("standby has neighbours")
	}
}
