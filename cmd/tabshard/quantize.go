package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/models"
	"github.com/tabshard/tabshard/precision"
	"github.com/tabshard/tabshard/quant"
)

// policyFlags choose a precision policy: a profile, one format for every
// matrix, or a byte/bit budget filled adaptively from measured
// sensitivities.
type policyFlags struct {
	profile     string
	format      string
	budgetBytes uint64
	budgetBits  float64
	scope       string
	base        string
	sensitivity string
	formats     string
	calib       calibFlags
}

// calibFlags say where the sensitivity measurement's text comes from.
type calibFlags struct {
	text   string
	tokens int
	window int
}

func (c *calibFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.text, "calib-text", "", "text to measure sensitivities on (its last --calib-tokens tokens)")
	fs.IntVar(&c.tokens, "calib-tokens", 1024, "calibration tokens (whole windows of --calib-window)")
	fs.IntVar(&c.window, "calib-window", 512, "calibration window")
}

const defaultCandidates = "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0"

func (f *policyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.profile, "profile", "", "built-in policy: quality, balanced or memory")
	fs.StringVar(&f.format, "type", "", "one format for every matrix (norms stay F32), e.g. Q4_K")
	fs.Uint64Var(&f.budgetBytes, "budget-bytes", 0, "adaptive: total tensor bytes (in --scope) to fill")
	fs.Float64Var(&f.budgetBits, "budget-bpw", 0, "adaptive: bits per weight (over --scope) to fill")
	fs.StringVar(&f.scope, "scope", "all", "what an adaptive budget counts: all (every tensor) or blocks (transformer blocks only)")
	fs.StringVar(&f.base, "base", "balanced", "adaptive: profile for the tensors outside --scope")
	fs.StringVar(&f.sensitivity, "sensitivity", "", "adaptive: sensitivity JSON from `tabshard analyze --sensitivity-out` (else measured with --calib-text)")
	fs.StringVar(&f.formats, "formats", defaultCandidates, "adaptive: candidate formats when measuring")
	f.calib.register(fs)
}

func (f *policyFlags) adaptive() bool { return f.budgetBytes > 0 || f.budgetBits > 0 }

// plan resolves the flags to a plan for m's tensors; sens is nil unless
// the plan is adaptive.
func (f *policyFlags) plan(m *openedModel, threads int, stderr io.Writer) (quant.Plan, []quant.Sensitivity, error) {
	specs := precision.Specs(m.src.Tensors)
	chosen := 0
	for _, set := range []bool{f.profile != "", f.format != "", f.adaptive()} {
		if set {
			chosen++
		}
	}
	if chosen != 1 || (f.budgetBytes > 0 && f.budgetBits > 0) {
		return quant.Plan{}, nil, fmt.Errorf("give exactly one of --profile, --type, --budget-bytes and --budget-bpw")
	}
	switch {
	case f.profile != "":
		p, err := quant.ParseProfile(f.profile)
		if err != nil {
			return quant.Plan{}, nil, err
		}
		pol, err := p.Policy()
		if err != nil {
			return quant.Plan{}, nil, err
		}
		plan, err := pol.Apply(specs)
		return plan, nil, err
	case f.format != "":
		t, err := quant.ParseType(f.format)
		if err != nil {
			return quant.Plan{}, nil, err
		}
		plan, err := quant.UniformPolicy(t).Apply(specs)
		return plan, nil, err
	}
	scope, err := parseScope(f.scope)
	if err != nil {
		return quant.Plan{}, nil, err
	}
	bp, err := quant.ParseProfile(f.base)
	if err != nil {
		return quant.Plan{}, nil, err
	}
	base, err := bp.Policy()
	if err != nil {
		return quant.Plan{}, nil, err
	}
	budget := quant.Budget{Bytes: f.budgetBytes, Scope: scope}
	if f.budgetBits > 0 {
		if budget, err = quant.BitsBudget(f.budgetBits, scope, specs); err != nil {
			return quant.Plan{}, nil, err
		}
	}
	sens, err := f.sensitivities(m, threads, scope, stderr)
	if err != nil {
		return quant.Plan{}, nil, err
	}
	plan, err := quant.Adaptive(specs, base, sens, budget)
	return plan, sens, err
}

func parseScope(s string) (quant.Scope, error) {
	switch s {
	case "all":
		return quant.ScopeAll, nil
	case "blocks":
		return quant.ScopeBlocks, nil
	}
	return 0, fmt.Errorf("unknown --scope %q (all or blocks)", s)
}

// sensitivities reads --sensitivity or measures on --calib-text, keeping
// the tensors in scope.
func (f *policyFlags) sensitivities(m *openedModel, threads int, scope quant.Scope, stderr io.Writer) ([]quant.Sensitivity, error) {
	var all []quant.Sensitivity
	if f.sensitivity != "" {
		file, err := os.Open(f.sensitivity)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		if all, err = precision.ReadSensitivities(bufio.NewReader(file)); err != nil {
			return nil, err
		}
	} else {
		if f.calib.text == "" {
			return nil, fmt.Errorf("an adaptive budget needs --sensitivity or --calib-text")
		}
		formats, err := parseFormats(f.formats)
		if err != nil {
			return nil, err
		}
		if all, err = measure(m, threads, f.calib, formats, stderr); err != nil {
			return nil, err
		}
	}
	var out []quant.Sensitivity
	for _, s := range all {
		if _, layer := quant.ClassifyTensor(s.Name); scope == quant.ScopeAll || layer >= 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

func parseFormats(s string) ([]quant.Type, error) {
	var out []quant.Type
	for _, name := range strings.Split(s, ",") {
		t, err := quant.ParseType(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// measure runs the per-tensor sensitivity measurement on the CPU.
func measure(m *openedModel, threads int, c calibFlags, formats []quant.Type, stderr io.Writer) ([]quant.Sensitivity, error) {
	calib, err := calibration(m, c)
	if err != nil {
		return nil, err
	}
	dev, err := cpu.New(threads)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	start := time.Now()
	ref, err := precision.NewReference(dev, m.src, m.cfg, calib)
	if err != nil {
		return nil, err
	}
	names := precision.Matrices(m.src.Tensors)
	fmt.Fprintf(stderr, "measuring %d tensors × %d formats on %d positions\n", len(names), len(formats), ref.Positions())
	return precision.Measure(dev, m.src, ref, names, formats, func(p precision.Probe) {
		fmt.Fprintf(stderr, "[%d/%d %v] %s %s: KL %.6f\n", p.Done, p.Total, time.Since(start).Round(time.Second), p.Tensor, p.Type, p.Loss)
	})
}

// calibration takes the last c.tokens tokens of the text (whole windows),
// away from the start of the text that perplexity runs usually score.
func calibration(m *openedModel, c calibFlags) (precision.Calibration, error) {
	if c.window < 2 || c.tokens < c.window {
		return precision.Calibration{}, fmt.Errorf("--calib-tokens %d must hold at least one --calib-window of %d (≥ 2)", c.tokens, c.window)
	}
	text, err := os.ReadFile(c.text)
	if err != nil {
		return precision.Calibration{}, err
	}
	ids := m.tok.Encode(string(text), false)
	n := c.tokens / c.window * c.window
	if len(ids) < n {
		return precision.Calibration{}, fmt.Errorf("%s has %d tokens, fewer than --calib-tokens %d", c.text, len(ids), n)
	}
	return precision.Calibration{Tokens: ids[len(ids)-n:], Window: c.window, BOS: m.tok.BOS()}, nil
}

func runQuantize(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("quantize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("model", "", "F16/F32/BF16 (or already quantized) GGUF, safetensors file or directory")
	vocab := fs.String("vocab", "", "GGUF holding the tokenizer, for inputs without one")
	out := fs.String("out", "", "GGUF file to write")
	threads := fs.Int("threads", 0, "CPU threads for sensitivity measurement (0: all cores)")
	list := fs.Bool("list", false, "print every tensor's format")
	var pf policyFlags
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return fmt.Errorf("give --model and --out")
	}
	m, err := openModel(*in, *vocab)
	if err != nil {
		return err
	}
	defer m.src.Close()
	plan, sens, err := pf.plan(m, *threads, stderr)
	if err != nil {
		return err
	}
	var vocabMeta *loader.Metadata
	if !m.src.Meta.Has("tokenizer.ggml.tokens") {
		v, err := vocabModel(*vocab)
		if err != nil {
			return err
		}
		defer v.Close()
		vocabMeta = &v.Meta
	}
	if err := writeGGUFFile(*out, m.src, vocabMeta, plan); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d tensors, %s bytes of tensors, %.3f bits/weight (blocks %.3f)\n",
		*out, len(plan.Tensors), strconv.FormatUint(plan.Bytes(), 10), plan.BitsPerWeight(), plan.BlockBitsPerWeight())
	if sens != nil {
		loss, _ := quant.PredictedLoss(plan, sens)
		fmt.Fprintf(stdout, "predicted KL (sum of per-tensor measurements): %.5f nats\n", loss)
	}
	printFormatCounts(stdout, plan, *list)
	return nil
}

// vocabModel opens the tokenizer source for inputs without one: --vocab, or
// the embedded LLaMA-2 vocabulary openModel already checked against.
func vocabModel(path string) (*loader.Model, error) {
	if path != "" {
		return loader.Open(path)
	}
	return embeddedVocab()
}

func writeGGUFFile(path string, src *loader.Model, vocab *loader.Metadata, plan quant.Plan) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path) // never leave a truncated model behind
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err = precision.WriteGGUF(w, src, vocab, plan); err != nil {
		return err
	}
	return w.Flush()
}

func printFormatCounts(w io.Writer, plan quant.Plan, each bool) {
	type agg struct {
		n     int
		bytes uint64
	}
	counts := map[quant.Type]*agg{}
	var order []quant.Type
	for _, t := range plan.Tensors {
		if each {
			fmt.Fprintf(w, "  %-24s %-6s %10d bytes\n", t.Name, t.Type, t.Bytes)
		}
		a := counts[t.Type]
		if a == nil {
			a = &agg{}
			counts[t.Type] = a
			order = append(order, t.Type)
		}
		a.n++
		a.bytes += t.Bytes
	}
	for _, t := range order {
		fmt.Fprintf(w, "  %-6s %3d tensors %10d bytes\n", t, counts[t].n, counts[t].bytes)
	}
}

func embeddedVocab() (*loader.Model, error) {
	return loader.OpenGGUF(bytes.NewReader(models.LlamaVocab), int64(len(models.LlamaVocab)))
}
