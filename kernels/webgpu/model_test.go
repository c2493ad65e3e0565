//go:build !js

package webgpu

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/quant"
)

// TestReferenceGreedy runs the whole austen-22m model from the F16 GGUF on
// this device and checks issue 3's acceptance 2 for F16: each reference
// case's greedy continuation equals greedy_48 and the last prompt
// position's logits are within 1e-3 of reference.json.
func TestReferenceGreedy(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-model run")
	}
	raw, err := os.ReadFile(testdata.Path(t, "austen-22m/reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases map[string]referenceCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	src, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-F16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	// Twice: with this adapter's own matvec choice (lavapipe: the classic
	// kernel) and with the tiled kernels GPUs pick (gpuTiled, whose
	// short-window kernel serves the layers and the 8×32 one the head).
	for _, sh := range []TiledShape{{}, gpuTiled} {
		t.Run(fmt.Sprintf("tiled%+v", sh), func(t *testing.T) { referenceGreedy(t, src, cfg, ref.Cases, sh) })
	}
}

type referenceCase struct {
	InputIDs   []int32   `json:"input_ids"`
	Greedy48   []int32   `json:"greedy_48"`
	LastLogits []float32 `json:"last_logits"`
}

func referenceGreedy(t *testing.T, src *loader.Model, cfg model.Config, cases map[string]referenceCase, sh TiledShape) {
	dev := open(t, Options{TiledShape: sh})
	e, err := model.NewEngine(dev, src, cfg, model.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		c := cases[name]
		var last []float32
		err := e.Eval(c.InputIDs, 0, func(i int) bool { return i == len(c.InputIDs)-1 }, func(_ int, l []float32) error {
			last = append([]float32(nil), l...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var maxDiff float64
		for i, v := range c.LastLogits {
			maxDiff = math.Max(maxDiff, math.Abs(float64(v-last[i])))
		}
		if maxDiff > 1e-3 {
			t.Errorf("%s: last logits differ by up to %g (limit 1e-3)", name, maxDiff)
		}
		var got []int32
		err = e.Generate(context.Background(), c.InputIDs, len(c.Greedy48), -1, model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
			got = append(got, id)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		match := 0
		for match < len(c.Greedy48) && match < len(got) && got[match] == c.Greedy48[match] {
			match++
		}
		if match < len(c.Greedy48) {
			t.Errorf("%s: greedy output diverges at step %d:\n got  %v\n want %v", name, match, got, c.Greedy48)
		}
		t.Logf("%s: %d prompt tokens, last logits max diff %.2g, greedy %d/%d match", name, len(c.InputIDs), maxDiff, match, len(c.Greedy48))
	}
}

// TestQuantizedGreedyMatchesCPU checks acceptance 2's second half: for the
// Q8_0, Q4_K_M and Q2_K files, greedy output on this device equals the CPU
// engine's; and, with the F16 file, so does it with Q8_0 and Q4_0 KV caches. A divergence is reported with the CPU's logit margin between
// the two candidates at that step (a near-tie explains a flip).
func TestQuantizedGreedyMatchesCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-model runs")
	}
	raw, err := os.ReadFile(testdata.Path(t, "austen-22m/reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases map[string]struct {
			InputIDs []int32 `json:"input_ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	prompts := map[string][]int32{}
	for n, c := range ref.Cases {
		prompts[n] = c.InputIDs
	}
	cpuDev, err := cpu.New(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cpuDev.Close()
	// f32 x must reproduce the CPU engine exactly. With x rounded to int8s
	// (GPUs' default; on lavapipe only where the tiled matvec runs, which
	// it does not by default) a divergence is allowed where the CPU's top
	// two logits are nearly tied: the rounding moves logits by a few
	// hundredths (H100, Q4_K_M "once": step 37, margin 0.032).
	for _, x := range []XPrecision{XFloat, XInt8} {
		dev := open(t, Options{X: x})
		if x == XInt8 && !dev.QuantizesX(quant.Q4_K) {
			continue // the classic kernel (lavapipe): the f32 run again
		}
		quantizedGreedy(t, dev, cpuDev, prompts, x == XInt8)
	}
}

// nearTie is the largest CPU logit margin at which a device that rounds x
// may pick the other token.
const nearTie = 0.25

// quantizedGreedy compares dev's greedy continuations of prompts (by case
// name) with the CPU engine's on each quantized file.
func quantizedGreedy(t *testing.T, dev *Device, cpuDev kernels.Device, prompts map[string][]int32, roundsX bool) {
	names := slices.Sorted(maps.Keys(prompts))
	type variant struct {
		file string
		kv   quant.Type
	}
	// The three quantized files with the default (F32) KV cache, and the
	// F16 file with the two quantized KV caches (issue 6's KV formats).
	for _, v := range []variant{{"Q8_0", 0}, {"Q4_K_M", 0}, {"Q2_K", 0}, {"F16", quant.Q8_0}, {"F16", quant.Q4_0}} {
		name := v.file
		if v.kv != 0 {
			name += "/KV-" + v.kv.String()
		}
		if roundsX {
			name = "int8x/" + name
		}
		t.Run(name, func(t *testing.T) {
			file := v.file
			src, err := loader.Open(testdata.Path(t, "austen-22m/gguf/austen-22m-"+file+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
			if err != nil {
				t.Fatal(err)
			}
			eg, err := model.NewEngine(dev, src, cfg, model.EngineOptions{KV: v.kv})
			if err != nil {
				t.Fatal(err)
			}
			defer eg.Close()
			ec, err := model.NewEngine(cpuDev, src, cfg, model.EngineOptions{KV: v.kv})
			if err != nil {
				t.Fatal(err)
			}
			defer ec.Close()
			for _, name := range names {
				prompt := prompts[name]
				gen := func(e *model.Engine) []int32 {
					var got []int32
					err := e.Generate(context.Background(), prompt, 48, -1, model.NewSampler(model.SamplerConfig{}), func(id int32, _ float32) bool {
						got = append(got, id)
						return true
					})
					if err != nil {
						t.Fatal(err)
					}
					return got
				}
				g, c := gen(eg), gen(ec)
				i := 0
				for i < len(g) && i < len(c) && g[i] == c[i] {
					i++
				}
				if i == len(c) && len(g) == len(c) {
					t.Logf("%s: greedy %d/%d match the CPU engine", name, i, len(c))
					continue
				}
				// Margin: the CPU engine's logits at the diverging step.
				ctx := append(append([]int32(nil), prompt...), c[:i]...)
				var logits []float32
				err := ec.Eval(ctx, 0, func(j int) bool { return j == len(ctx)-1 }, func(_ int, l []float32) error {
					logits = append([]float32(nil), l...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				margin := logits[c[i]] - logits[g[i]]
				if roundsX && margin < nearTie {
					t.Logf("%s: diverges from the CPU engine at step %d, a near tie (CPU %d, device %d; CPU logit margin %.4g)", name, i, c[i], g[i], margin)
					continue
				}
				t.Errorf("%s: diverges from the CPU engine at step %d (CPU %d, device %d; CPU logit margin %.4g)", name, i, c[i], g[i], margin)
			}
		})
	}
}
