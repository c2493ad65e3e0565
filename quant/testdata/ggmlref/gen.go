//go:build ignore

// gen writes the golden vectors TestGGMLReference compares against: inputs
// (float32 weights from several distributions, random block bytes) and
// what llama.cpp's own C code makes of them (quantize_row_*_ref,
// dequantize_row_*, GGML_FP32_TO_FP16/BF16), computed by cref.c.
//
// Build cref against a ggml checkout (ggml-org/ggml or llama.cpp's ggml/):
//
//	gcc -O2 -std=gnu11 -Iinclude -Isrc -Isrc/ggml-cpu -c src/ggml-quants.c -o quants.o
//	gcc -O2 -std=gnu11 -Iinclude -Isrc -Isrc/ggml-cpu cref.c quants.o -lm -o cref
//
// then, from the repository root:
//
//	go run quant/testdata/ggmlref/gen.go -cref /path/to/cref
//
// The checked-in vectors came from ggml commit d99724f2 (August 2026),
// compiled for baseline x86-64 (no FMA contraction).
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
)

// Type ids (ggml.h) of the formats cref handles.
var types = map[string]uint32{
	"F16": 1, "BF16": 30, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
	"Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "Q8_K": 15,
}

var blockBytes = map[string]int{
	"F16": 2, "BF16": 2, "Q4_0": 18, "Q4_1": 20, "Q5_0": 22, "Q5_1": 24, "Q8_0": 34,
	"Q2_K": 84, "Q3_K": 110, "Q4_K": 144, "Q5_K": 176, "Q6_K": 210, "Q8_K": 292,
}

func main() {
	cref := flag.String("cref", "cref", "path to the compiled cref.c")
	dir := flag.String("dir", "quant/testdata/ggmlref", "output directory")
	flag.Parse()

	r := rand.New(rand.NewPCG(42, 43))
	gens := []func(i int) float32{
		func(int) float32 { return float32(r.NormFloat64()) },
		func(int) float32 {
			if r.IntN(50) == 0 {
				return float32(r.NormFloat64() * 20)
			}
			return float32(r.NormFloat64())
		},
		func(int) float32 { return r.Float32() },
		func(int) float32 { return -r.Float32() * 3 },
		func(int) float32 { return float32(r.NormFloat64() * 1e-12) },
		func(int) float32 { return float32(r.NormFloat64() * 1e4) },
		func(int) float32 {
			if r.IntN(10) == 0 {
				return float32(r.NormFloat64())
			}
			return 0
		},
		func(int) float32 { return float32(r.IntN(9) - 4) },
		func(int) float32 { return float32(r.IntN(33)-16) / 2 },
		func(i int) float32 { return float32(i/256%5) * 0.37 },
		func(int) float32 { return math.Float32frombits(r.Uint32()&0x3fffffff | r.Uint32()&0x80000000) },
	}
	const perGen = 512 // two K blocks
	x := make([]float32, 0, perGen*len(gens))
	for _, g := range gens {
		for i := 0; i < perGen; i++ {
			x = append(x, g(i))
		}
	}
	in := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(in[4*i:], math.Float32bits(v))
	}
	raw := make([]byte, 2048)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	write(filepath.Join(*dir, "input.f32"), in)
	write(filepath.Join(*dir, "random.bin"), raw)
	for name, id := range types {
		write(filepath.Join(*dir, "quantize_"+name+".bin"), run(*cref, "q", id, in))
		bb := blockBytes[name]
		write(filepath.Join(*dir, "dequantize_"+name+".f32"), run(*cref, "deq", id, raw[:len(raw)/bb*bb]))
	}
}

func run(cref, op string, id uint32, in []byte) []byte {
	cmd := exec.Command(cref, op, fmt.Sprint(id))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("cref %s %d: %v", op, id, err)
	}
	return out
}

func write(path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}
