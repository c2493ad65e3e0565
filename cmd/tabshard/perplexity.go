package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tabshard/tabshard/model"
)

func runPerplexity(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("perplexity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mf modelFlags
	mf.register(fs)
	textPath := fs.String("text", "", "UTF-8 text file to score")
	idsPath := fs.String("ids", "", "token-id file to score (little-endian uint16, no BOS)")
	window := fs.Int("window", 512, "positions per window")
	limit := fs.Int("max-tokens", 0, "score only the first N tokens (0: all)")
	llamacpp := fs.Bool("llamacpp", false, "llama-perplexity's definition: BOS-headed chunks, second half scored")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*textPath == "") == (*idsPath == "") {
		return fmt.Errorf("give exactly one of --text and --ids")
	}
	m, e, dev, err := mf.engine(*window)
	if err != nil {
		return err
	}
	defer dev.Close()
	defer e.Close()
	defer m.src.Close()

	var tokens []int32
	if *textPath != "" {
		text, err := os.ReadFile(*textPath)
		if err != nil {
			return err
		}
		// llama-perplexity tokenizes the whole text in one pass, BOS first.
		tokens = m.tok.Encode(string(text), *llamacpp)
	} else if tokens, err = readU16IDs(*idsPath, m.cfg.Vocab); err != nil {
		return err
	}
	if *llamacpp && *idsPath != "" {
		tokens = append([]int32{m.tok.BOS()}, tokens...)
	}
	if *limit > 0 && *limit < len(tokens) {
		tokens = tokens[:*limit]
	}
	method := model.Windows
	if *llamacpp {
		method = model.LlamaCpp
	}
	start := time.Now()
	progress := func(done, total int, r model.PerplexityResult) {
		if !*quiet && (done%10 == 0 || done == total) {
			fmt.Fprintf(stderr, "[%d/%d] ppl %.4f\n", done, total, r.PPL)
		}
	}
	r, err := e.Perplexity(tokens, *window, method, m.tok.BOS(), progress)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d tokens, %d windows of %d, %d scored: PPL = %.4f +/- %.4f (%v)\n",
		m.name, len(tokens), r.Windows, *window, r.Scored, r.PPL, r.StdErr, time.Since(start).Round(time.Second))
	return nil
}

// readU16IDs reads little-endian uint16 token ids, each checked against the vocabulary.
func readU16IDs(path string, vocab int) ([]int32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%s: odd length %d for uint16 ids", path, len(b))
	}
	ids := make([]int32, len(b)/2)
	for i := range ids {
		ids[i] = int32(binary.LittleEndian.Uint16(b[2*i:]))
		if int(ids[i]) >= vocab {
			return nil, fmt.Errorf("%s: token %d at index %d is outside the vocabulary of %d", path, ids[i], i, vocab)
		}
	}
	return ids, nil
}
