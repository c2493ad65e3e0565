package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tabshard/tabshard/model"
)

// runBench measures decode speed of each model in turn, in the same run, and
// prints each as a ratio to the first (the baseline).
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mf modelFlags
	mf.register(fs)
	var paths []string
	fs.Func("models", "comma-separated model files to compare (default: the embedded model)", func(v string) error {
		paths = append(paths, strings.Split(v, ",")...)
		return nil
	})
	prompt := fs.Int("p", 64, "prompt tokens (prefill)")
	gen := fs.Int("n", 64, "tokens to decode")
	reps := fs.Int("r", 3, "repetitions; the best is reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(paths) == 0 {
		paths = []string{mf.path}
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "model\tbytes\tprefill tok/s (pp%d)\tdecode tok/s (tg%d)\tdecode vs first\t\n", *prompt, *gen)
	var base float64
	for _, p := range paths {
		f := mf
		f.path = p
		pp, tg, size, name, err := benchOne(&f, *prompt, *gen, *reps)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if base == 0 {
			base = tg
		}
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%.1f\t%.2f\t\n", name, size, pp, tg, tg/base)
	}
	return w.Flush()
}

func benchOne(f *modelFlags, prompt, gen, reps int) (pp, tg float64, size int64, name string, err error) {
	m, e, dev, err := f.engine(prompt)
	if err != nil {
		return 0, 0, 0, "", err
	}
	defer dev.Close()
	defer e.Close()
	defer m.src.Close()
	ids := make([]int32, prompt)
	for i := range ids {
		ids[i] = int32(1 + (i*7919)%(m.cfg.Vocab-1)) // a fixed, arbitrary prompt
	}
	ids[0] = m.tok.BOS()
	greedy := model.NewSampler(model.SamplerConfig{})
	for r := 0; r < reps; r++ {
		start := time.Now()
		var firstAt time.Duration
		n := 0
		err := e.Generate(context.Background(), ids, gen, -1, greedy, func(int32, float32) bool {
			if n == 0 {
				firstAt = time.Since(start)
			}
			n++
			return true
		})
		if err != nil {
			return 0, 0, 0, "", err
		}
		total := time.Since(start)
		pp = max(pp, float64(prompt)/firstAt.Seconds())
		tg = max(tg, float64(n-1)/(total-firstAt).Seconds())
	}
	return pp, tg, m.src.Summary().Bytes, m.name, nil
}
