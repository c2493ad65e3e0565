// Package tests holds end-to-end tests: native multi-node pipelines over
// real WebRTC (pion) wired by a real signaling server, node processes
// killed and added mid-generation, and (later) headless Chromium tabs.
package tests

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/node"
	"github.com/tabshard/tabshard/quant"
	"github.com/tabshard/tabshard/shard"
	"github.com/tabshard/tabshard/swarm"
)

// tabshardBin is the tabshard command, built once for every test of the package.
var tabshardBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tabshard-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tabshardBin = filepath.Join(dir, "tabshard")
	build := exec.Command("go", "build", "-o", tabshardBin, "./cmd/tabshard")
	build.Dir = testdata.Root()
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tabshard:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	swarmName  = "e2e"
	swarmToken = "e2e-token-0123456789abcdef"
)

// cluster is a signaling server in this process and node processes.
type cluster struct {
	t         testing.TB
	modelPath string
	srv       *swarm.Server
	hs        *httptest.Server
	lis       *trackingListener // hs's, to drop every connection
	planner   *shard.SwarmPlanner
	mu        sync.Mutex
	nodes     []*exec.Cmd
	logs      []*strings.Builder
}

// startCluster serves a swarm planned for the model at modelPath and starts
// n node processes; the first plan is made when all n have joined.
func startCluster(t testing.TB, modelPath string, n int) *cluster {
	t.Helper()
	src, err := loader.Open(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	shape, err := shard.ShapeOf(src.Tensors, cfg, quant.F32)
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := fileDigest(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, modelPath: modelPath}
	c.planner = &shard.SwarmPlanner{Shape: shape, MinNodes: n,
		Manifest: swarm.ManifestRef{URL: "/models/" + sum + "/manifest.json", SHA256: sum},
		Config:   shard.PlanConfig{Context: 256, Sessions: 16}, Spread: true,
		Logger: quietLogger(t)}
	c.srv, err = swarm.NewServer(swarm.Config{
		Swarms:            []swarm.SwarmConfig{{Name: swarmName, Token: swarmToken}},
		Planner:           c.planner,
		HeartbeatInterval: time.Second,
		HeartbeatTimeout:  5 * time.Second,
		Logger:            quietLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.hs = httptest.NewUnstartedServer(c.srv)
	c.lis = &trackingListener{Listener: c.hs.Listener}
	c.hs.Listener = c.lis
	c.hs.Start()
	t.Cleanup(c.stop)
	for i := 0; i < n; i++ {
		c.addNode()
	}
	return c
}

// trackingListener keeps every connection it accepted, so a test can cut
// them all, WebSockets included (httptest forgets hijacked connections).
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// dropAll closes every connection accepted so far, as a network cut would.
func (l *trackingListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

func (c *cluster) signalURL() string {
	return "ws" + strings.TrimPrefix(c.hs.URL, "http") + swarm.SignalPath
}

// nodeThreads is each node's --threads: 1, or $TABSHARD_NODE_THREADS.
func nodeThreads() string {
	if v := os.Getenv("TABSHARD_NODE_THREADS"); v != "" {
		return v
	}
	return "1"
}

// addNode starts one more node process.
func (c *cluster) addNode() {
	c.t.Helper()
	cmd := exec.Command(tabshardBin, "node", "--signal", c.signalURL(), "--swarm", swarmName, "--token", swarmToken,
		"--model", c.modelPath, "--threads", nodeThreads(), "--ctx", "256", "--budget", fmt.Sprint(1<<30))
	log := &strings.Builder{}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, cmd)
	c.logs = append(c.logs, log)
	c.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.mu.Lock()
			log.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
}

// kill ends node i's process at once (SIGKILL: no goodbye).
func (c *cluster) kill(i int) {
	c.mu.Lock()
	cmd := c.nodes[i]
	c.mu.Unlock()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func (c *cluster) stop() {
	c.mu.Lock()
	nodes := c.nodes
	c.mu.Unlock()
	for _, cmd := range nodes {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	c.srv.Close()
	c.hs.Close()
	if c.t.Failed() {
		c.mu.Lock()
		for i, l := range c.logs {
			c.t.Logf("node %d log:\n%s", i, l.String())
		}
		c.mu.Unlock()
	}
}

// client joins the swarm as a client and waits for a pipeline.
func (c *cluster) client(ctx context.Context) *node.Client {
	c.t.Helper()
	cl, err := node.DialClient(ctx, node.ClientConfig{
		Signal: swarm.ClientConfig{URL: c.signalURL(), Swarm: swarmName, Token: swarmToken},
		Logger: quietLogger(c.t),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := cl.WaitReady(wctx); err != nil {
		c.t.Fatalf("no pipeline: %v", err)
	}
	return cl
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// quietLogger sends warnings and errors to stderr (shown with the test
// output); a logger bound to testing.T would outlive the test in goroutines.
func quietLogger(testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
