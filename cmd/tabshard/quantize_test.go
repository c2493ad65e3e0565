package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/quant"
)

func TestParseBudgets(t *testing.T) {
	b, err := parseBudgets("11729408, 4.5bpw,blocks:3.0bpw")
	if err != nil || len(b) != 3 || b[0].bytes != 11729408 || b[1].bits != 4.5 || b[2].scope != quant.ScopeBlocks || b[2].bits != 3 {
		t.Fatalf("got %+v, %v", b, err)
	}
	for _, bad := range []string{"-1", "0", "xbpw", "blocks:0bpw", "12MB"} {
		if _, err := parseBudgets(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestQuantizeCommand writes a profile mix and refuses bad policies with
// clear errors.
func TestQuantizeCommand(t *testing.T) {
	in := testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf")
	dir := t.TempDir()
	out := filepath.Join(dir, "m.gguf")
	var stdout, stderr bytes.Buffer
	if err := dispatch([]string{"quantize", "--model", in, "--out", out, "--profile", "memory"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	m, err := loader.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := m.Tensor("output.weight"); info.Type != quant.Q4_K {
		t.Errorf("memory profile head is %s, want Q4_K", info.Type)
	}
	m.Close()
	sens := filepath.Join(dir, "sens.json")
	if err := os.WriteFile(sens, []byte(`{"tensors":[{"name":"output.weight","loss":{"Q2_K":0.08,"Q6_K":0.0003}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--type", "Q9_9"}, "unknown format"},
		{[]string{"--type", "IQ2_XS"}, "cannot be used"},
		{[]string{"--profile", "tiny"}, "unknown precision profile"},
		{[]string{"--budget-bytes", "1000", "--sensitivity", sens}, "below the smallest possible"},
		{[]string{"--budget-bytes", "1000"}, "needs --sensitivity or --calib-text"},
		{[]string{"--profile", "memory", "--type", "Q4_K"}, "exactly one"},
	} {
		bad := filepath.Join(dir, "bad.gguf")
		err := dispatch(append([]string{"quantize", "--model", in, "--out", bad}, c.args...), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.args, err, c.want)
		}
		if _, err := os.Stat(bad); err == nil {
			t.Errorf("%v: a file was left behind", c.args)
		}
	}
}
