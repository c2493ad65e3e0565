// Command tabshard runs LLaMA-family models: generate text, measure
// perplexity, inspect model files and benchmark decoding. Without --model it
// uses the embedded default model, so it works with no download.
package main

import (
	"fmt"
	"io"
	"os"
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"generate", "stream a continuation of a prompt", runGenerate},
	{"perplexity", "perplexity of a text or token-id file", runPerplexity},
	{"inspect", "summarise a model file: metadata, tensors, formats, bytes", runInspect},
	{"bench", "decode tokens/s of one or more models", runBench},
	{"quantize", "write a GGUF in a precision policy's formats (profile, format or adaptive budget)", runQuantize},
	{"analyze", "accuracy–memory table: bytes, perplexity, greedy agreement per precision", runAnalyze},
	{"node", "join a swarm as a native node and serve layers", runNode},
	{"demo", "serve a swarm here, start native nodes, stream a generation, print the tab URLs", runDemo},
}

func main() {
	if err := dispatch(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tabshard:", err)
		os.Exit(1)
	}
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return fmt.Errorf("no command given")
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tabshard <command> [flags]   (tabshard <command> -h for its flags)")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
}
