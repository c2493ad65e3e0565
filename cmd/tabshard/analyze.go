package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/precision"
	"github.com/tabshard/tabshard/quant"
)

// analysisPrompts are the fixed prompts of the greedy-agreement column.
var analysisPrompts = []string{
	"It is a truth universally acknowledged",
	"Mr. Darcy looked at her and said",
	"Elizabeth walked into the room and",
	"The letter from Longbourn arrived on",
	"\"My dear Jane,\" said her sister,",
	"Lady Catherine was not pleased with",
	"The ball at Netherfield was",
	"Mrs. Bennet could not believe that",
}

// budgetSpec is one adaptive row of the analysis: bytes or bits per weight,
// over every tensor or over the blocks only.
type budgetSpec struct {
	label string
	bytes uint64
	bits  float64
	scope quant.Scope
}

// parseBudgets reads a comma list of N (bytes over every tensor), Xbpw
// (bits per weight over every tensor) or blocks:Xbpw (over the blocks).
func parseBudgets(s string) ([]budgetSpec, error) {
	var out []budgetSpec
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		b := budgetSpec{label: f}
		rest := f
		if r, ok := strings.CutPrefix(f, "blocks:"); ok {
			b.scope, rest = quant.ScopeBlocks, r
		}
		if r, ok := strings.CutSuffix(rest, "bpw"); ok {
			v, err := strconv.ParseFloat(r, 64)
			if err != nil || !(v > 0) {
				return nil, fmt.Errorf("budget %q: bits per weight must be a positive number", f)
			}
			b.bits = v
		} else {
			v, err := strconv.ParseUint(rest, 10, 64)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("budget %q: give bytes (N), bits (Xbpw) or blocks:Xbpw", f)
			}
			b.bytes = v
		}
		out = append(out, b)
	}
	return out, nil
}

func runAnalyze(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("model", "", "reference model (F16/F32 GGUF or safetensors)")
	vocab := fs.String("vocab", "", "GGUF holding the tokenizer, for models without one")
	threads := fs.Int("threads", 0, "CPU threads (0: all cores)")
	textPath := fs.String("text", "", "UTF-8 text to score")
	maxTokens := fs.Int("max-tokens", 65536, "score only the first N tokens (0: all)")
	llamacpp := fs.Bool("llamacpp", false, "llama-perplexity's definition (BOS-headed chunks, second half scored)")
	window := fs.Int("window", 512, "positions per perplexity window")
	greedyTokens := fs.Int("greedy-tokens", 32, "tokens generated per prompt for the agreement column")
	formats := fs.String("formats", "Q8_0,Q6_K,Q5_K,Q4_K,Q4_0,Q3_K,Q2_K", "uniform rows (empty: none)")
	profiles := fs.String("profiles", "quality,balanced,memory", "profile rows (empty: none)")
	budgets := fs.String("budgets", "", "adaptive rows: N bytes, Xbpw or blocks:Xbpw, comma-separated")
	kvs := fs.String("kv", "F16,Q8_0,Q4_0", "KV-cache rows with the reference weights (empty: none)")
	sensIn := fs.String("sensitivity", "", "read sensitivities from this JSON instead of measuring")
	sensOut := fs.String("sensitivity-out", "", "write the measured sensitivities here")
	base := fs.String("base", "balanced", "adaptive blocks-only rows: profile for the other tensors")
	candidates := fs.String("candidates", defaultCandidates, "adaptive: candidate formats when measuring")
	jsonPath := fs.String("json", "", "also write the table as JSON here")
	svgPath := fs.String("svg", "", "also draw perplexity against bytes as SVG here")
	merge := fs.String("merge", "", "instead of measuring: join the --json files of runs over the same text (comma-separated) into one table")
	var cf calibFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *merge != "" {
		return mergeTables(strings.Split(*merge, ","), *jsonPath, *svgPath, stdout)
	}
	if *path == "" || *textPath == "" {
		return fmt.Errorf("give --model and --text")
	}
	bs, err := parseBudgets(*budgets)
	if err != nil {
		return err
	}
	m, err := openModel(*path, *vocab)
	if err != nil {
		return err
	}
	defer m.src.Close()
	specs := precision.Specs(m.src.Tensors)
	variants := []precision.Variant{{Name: "reference (as stored)", Plan: precision.AsStored(m.src.Tensors)}}
	addPolicy := func(p quant.Policy) error {
		plan, err := p.Apply(specs)
		if err != nil {
			return err
		}
		variants = append(variants, precision.Variant{Name: p.Name, Plan: plan})
		return nil
	}
	if *formats != "" {
		ts, err := parseFormats(*formats)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if err := addPolicy(quant.UniformPolicy(t)); err != nil {
				return err
			}
		}
	}
	if *profiles != "" {
		for _, name := range strings.Split(*profiles, ",") {
			p, err := quant.ParseProfile(strings.TrimSpace(name))
			if err != nil {
				return err
			}
			pol, err := p.Policy()
			if err != nil {
				return err
			}
			if err := addPolicy(pol); err != nil {
				return err
			}
		}
	}
	var sens []quant.Sensitivity
	if len(bs) > 0 || *sensOut != "" {
		if sens, err = analysisSensitivities(m, *threads, *sensIn, *sensOut, cf, *candidates, *textPath, stderr); err != nil {
			return err
		}
		bp, err := quant.ParseProfile(*base)
		if err != nil {
			return err
		}
		basePol, err := bp.Policy()
		if err != nil {
			return err
		}
		for _, b := range bs {
			plan, err := adaptivePlan(specs, basePol, sens, b)
			if err != nil {
				return err
			}
			plan.Name = "adaptive " + b.label
			variants = append(variants, precision.Variant{Name: plan.Name, Plan: plan})
		}
	}
	if *kvs != "" {
		ts, err := parseFormats(*kvs)
		if err != nil {
			return err
		}
		for _, t := range ts {
			variants = append(variants, precision.Variant{Name: "reference (as stored)", Plan: variants[0].Plan, KV: t})
		}
	}

	text, err := os.ReadFile(*textPath)
	if err != nil {
		return err
	}
	tokens := m.tok.Encode(string(text), *llamacpp)
	if *maxTokens > 0 && *maxTokens < len(tokens) {
		tokens = tokens[:*maxTokens]
	}
	method := model.Windows
	if *llamacpp {
		method = model.LlamaCpp
	}
	var prompts [][]int32
	for _, p := range analysisPrompts {
		prompts = append(prompts, m.tok.Encode(p, true))
	}
	dev, err := cpu.New(*threads)
	if err != nil {
		return err
	}
	defer dev.Close()
	an, err := precision.NewAnalyser(dev, m.src, m.cfg, precision.AnalyseOptions{
		Tokens: tokens, Window: *window, Method: method, BOS: m.tok.BOS(),
		Prompts: prompts, GreedyTokens: *greedyTokens, Sensitivities: sens,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d tokens, %d configurations\n", m.name, len(tokens), len(variants))
	start := time.Now()
	var rows []precision.Row
	for i, v := range variants {
		r, err := an.Run(v)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
		fmt.Fprintf(stderr, "[%d/%d %v] %s kv %s: %d bytes, PPL %.4f, agreement %.3f\n",
			i+1, len(variants), time.Since(start).Round(time.Second), r.Name, r.KV, r.Bytes, r.PPL, r.Agreement)
		rows = append(rows, r)
	}
	def := "windows of the project's reference definition"
	if *llamacpp {
		def = "llama-perplexity's definition"
	}
	fmt.Fprintf(stdout, "%s on %s: %d tokens, %s, window %d; greedy agreement over %d prompts × %d tokens\n\n",
		m.name, *textPath, len(tokens), def, *window, len(prompts), *greedyTokens)
	if err := precision.WriteTable(stdout, rows); err != nil {
		return err
	}
	if *jsonPath != "" {
		if err := writeFileWith(*jsonPath, func(w io.Writer) error { return precision.WriteJSON(w, rows) }); err != nil {
			return err
		}
	}
	if *svgPath != "" {
		if err := writeFileWith(*svgPath, func(w io.Writer) error { return precision.WriteSVG(w, rows) }); err != nil {
			return err
		}
	}
	return nil
}

func adaptivePlan(specs []quant.TensorSpec, base quant.Policy, sens []quant.Sensitivity, b budgetSpec) (quant.Plan, error) {
	budget := quant.Budget{Bytes: b.bytes, Scope: b.scope}
	if b.bits > 0 {
		var err error
		if budget, err = quant.BitsBudget(b.bits, b.scope, specs); err != nil {
			return quant.Plan{}, err
		}
	}
	var in []quant.Sensitivity
	for _, s := range sens {
		if _, layer := quant.ClassifyTensor(s.Name); b.scope == quant.ScopeAll || layer >= 0 {
			in = append(in, s)
		}
	}
	plan, err := quant.Adaptive(specs, base, in, budget)
	if err != nil {
		return quant.Plan{}, fmt.Errorf("budget %s: %w", b.label, err)
	}
	return plan, nil
}

// analysisSensitivities reads --sensitivity, or measures on --calib-text
// (default: the analysed text) and writes --sensitivity-out.
func analysisSensitivities(m *openedModel, threads int, in, out string, cf calibFlags, candidates, text string, stderr io.Writer) ([]quant.Sensitivity, error) {
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return precision.ReadSensitivities(bufio.NewReader(f))
	}
	if cf.text == "" {
		cf.text = text
	}
	formats, err := parseFormats(candidates)
	if err != nil {
		return nil, err
	}
	sens, err := measure(m, threads, cf, formats, stderr)
	if err != nil {
		return nil, err
	}
	if out != "" {
		how := fmt.Sprintf("last %d tokens of %s, windows of %d", cf.tokens/cf.window*cf.window, cf.text, cf.window)
		err := writeFileWith(out, func(w io.Writer) error { return precision.WriteSensitivities(w, m.name, how, sens) })
		if err != nil {
			return nil, err
		}
	}
	return sens, nil
}

func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := write(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mergeTables joins tables from parallel runs and prints, and optionally
// writes, the result.
func mergeTables(paths []string, jsonPath, svgPath string, stdout io.Writer) error {
	var parts [][]precision.Row
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		rows, err := precision.ReadJSON(bufio.NewReader(f))
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		parts = append(parts, rows)
	}
	rows, err := precision.Merge(parts)
	if err != nil {
		return err
	}
	if err := precision.WriteTable(stdout, rows); err != nil {
		return err
	}
	if jsonPath != "" {
		if err := writeFileWith(jsonPath, func(w io.Writer) error { return precision.WriteJSON(w, rows) }); err != nil {
			return err
		}
	}
	if svgPath != "" {
		return writeFileWith(svgPath, func(w io.Writer) error { return precision.WriteSVG(w, rows) })
	}
	return nil
}
