package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
)

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("model", "", "model file or directory (default: the embedded model)")
	tensors := fs.Bool("tensors", false, "list every tensor")
	meta := fs.Bool("meta", false, "list every metadata key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := openModel(*path, "")
	if err != nil {
		return err
	}
	defer m.src.Close()
	s := m.src.Summary()
	c := m.cfg
	fmt.Fprintf(stdout, "%s (%s v%d)\n", m.name, s.Format, s.Version)
	fmt.Fprintf(stdout, "%s: %d layers, dim %d, ffn %d, %d heads / %d KV heads of %d, vocab %d, context %d, rope theta %g, rms eps %g, tied output %v\n",
		c.Arch, c.Layers, c.Dim, c.FFN, c.Heads, c.KVHeads, c.HeadDim, c.Vocab, c.Context, c.RopeTheta, c.NormEps, c.TiedOutput)
	fmt.Fprintf(stdout, "%d tensors, %d parameters, %d bytes, %.2f bits per weight\n", s.Tensors, s.Params, s.Bytes, s.BitsPerWeight)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "type\ttensors\tparameters\tbytes\t")
	for _, t := range s.ByType {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t\n", t.Type, t.Tensors, t.Params, t.Bytes)
	}
	w.Flush()
	if *meta {
		for _, e := range m.src.Meta.Entries() {
			fmt.Fprintf(stdout, "  %s (%s) = %s\n", e.Key, e.Type, e.Value)
		}
	}
	if *tensors {
		for _, t := range m.src.Tensors {
			fmt.Fprintf(stdout, "  %-28s %-6s %-12s %10d bytes\n", t.Name, t.Type, t.DimsString(), t.Size)
		}
	}
	return nil
}
