package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/tabshard/tabshard/model"
)

// samplingFlags maps command-line flags onto a model.SamplerConfig.
type samplingFlags struct {
	greedy bool
	cfg    model.SamplerConfig
}

func (s *samplingFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&s.greedy, "greedy", false, "always take the most likely token (same as --temp 0)")
	fs.Func("temp", "temperature; 0 is greedy (default 0.8)", floatInto(&s.cfg.Temperature))
	fs.IntVar(&s.cfg.TopK, "top-k", 40, "keep the k most likely tokens (0: all)")
	fs.Func("top-p", "nucleus: keep the smallest set with this probability (default 0.95)", floatInto(&s.cfg.TopP))
	fs.Func("min-p", "drop tokens below this fraction of the top probability (default 0.05)", floatInto(&s.cfg.MinP))
	fs.Func("repeat-penalty", "penalty for recently seen tokens; 1 is off (default 1.1)", floatInto(&s.cfg.RepeatPenalty))
	fs.IntVar(&s.cfg.RepeatLastN, "repeat-last-n", 64, "how many recent tokens the penalty looks at")
	fs.Uint64Var(&s.cfg.Seed, "seed", 0, "random seed (0: from the clock)")
	s.cfg.Temperature, s.cfg.TopP, s.cfg.MinP, s.cfg.RepeatPenalty = 0.8, 0.95, 0.05, 1.1
}

func floatInto(dst *float32) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 32)
		if err != nil {
			return err
		}
		*dst = float32(f)
		return nil
	}
}

func (s *samplingFlags) config() (model.SamplerConfig, error) {
	c := s.cfg
	if s.greedy {
		c.Temperature = 0
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c, c.Validate()
}

func parseIDs(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad token id %q", f)
		}
		ids = append(ids, int32(v))
	}
	return ids, nil
}

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mf modelFlags
	var sf samplingFlags
	mf.register(fs)
	sf.register(fs)
	prompt := fs.String("p", "It was a fine morning, and", "prompt text")
	promptIDs := fs.String("prompt-ids", "", "prompt as comma-separated token ids (instead of -p)")
	maxTokens := fs.Int("n", 128, "most tokens to generate")
	printIDs := fs.Bool("print-ids", false, "after the text, print the generated token ids")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scfg, err := sf.config()
	if err != nil {
		return err
	}
	m, e, dev, err := mf.engine(0)
	if err != nil {
		return err
	}
	defer dev.Close()
	defer e.Close()
	defer m.src.Close()

	var ids []int32
	if *promptIDs != "" {
		if ids, err = parseIDs(*promptIDs); err != nil {
			return err
		}
	} else {
		ids = m.tok.Encode(*prompt, m.tok.AddBOS())
		fmt.Fprint(stdout, *prompt)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	dec := m.tok.ContinueStream()
	var out []int32
	start := time.Now()
	var first time.Duration
	err = e.Generate(ctx, ids, *maxTokens, m.tok.EOS(), model.NewSampler(scfg), func(id int32, _ float32) bool {
		if out == nil {
			first = time.Since(start)
		}
		out = append(out, id)
		fmt.Fprint(stdout, dec.Next(id))
		return true
	})
	total := time.Since(start)
	fmt.Fprintln(stdout)
	if *printIDs {
		fmt.Fprintln(stdout, formatIDs(out))
	}
	if err != nil {
		return err
	}
	decode := total - first
	fmt.Fprintf(stderr, "\n%s on %s: prompt %d tokens in %v (%.0f tok/s); %d tokens generated, decode %.1f tok/s\n",
		m.name, dev.Name(), len(ids), first.Round(time.Millisecond), float64(len(ids))/first.Seconds(),
		len(out), float64(len(out)-1)/decode.Seconds())
	return nil
}

func formatIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
