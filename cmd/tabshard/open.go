package main

import (
	"bytes"
	"flag"
	"fmt"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/kernels/cpu"
	"github.com/tabshard/tabshard/kernels/webgpu"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/models"
	"github.com/tabshard/tabshard/quant"
)

// modelFlags are the flags every command that runs a model shares.
type modelFlags struct {
	path    string
	vocab   string
	threads int
	kv      string
	context int
	dev     string // -device
}

func (f *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.path, "model", "", "GGUF file, safetensors file or directory (default: embedded "+models.DefaultName+")")
	fs.StringVar(&f.vocab, "vocab", "", "GGUF file holding the tokenizer, for models without one (default: embedded LLaMA-2 vocabulary)")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads (0: all cores)")
	fs.StringVar(&f.kv, "kv", "F32", "KV-cache format: F32, F16, Q8_0 or Q4_0")
	fs.IntVar(&f.context, "ctx", 0, "context length (0: the model's)")
	fs.StringVar(&f.dev, "device", "cpu", deviceUsage)
}

const deviceUsage = "compute device: cpu, or webgpu (the machine's Vulkan GPU through WebGPU; an error where there is none)"

// openedModel is a model file with what it takes to run it.
type openedModel struct {
	name string
	src  *loader.Model
	cfg  model.Config
	tok  *model.Tokenizer
}

func openModel(path, vocabPath string) (*openedModel, error) {
	var src *loader.Model
	var err error
	name := path
	if path == "" {
		name = models.DefaultName
		src, err = loader.OpenGGUF(bytes.NewReader(models.Default), int64(len(models.Default)))
	} else {
		src, err = loader.Open(path)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := model.ConfigFromMeta(&src.Meta, src.Tensors)
	if err != nil {
		src.Close()
		return nil, err
	}
	tok, err := openTokenizer(src, vocabPath, cfg)
	if err != nil {
		src.Close()
		return nil, err
	}
	return &openedModel{name: name, src: src, cfg: cfg, tok: tok}, nil
}

// openTokenizer prefers an explicit vocabulary file, then the model's own,
// then the embedded LLaMA-2 vocabulary when the sizes agree.
func openTokenizer(src *loader.Model, vocabPath string, cfg model.Config) (*model.Tokenizer, error) {
	if vocabPath == "" {
		return models.Tokenizer(src, cfg)
	}
	v, err := loader.Open(vocabPath)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	tok, err := model.TokenizerFromGGUF(v.Meta)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() != cfg.Vocab {
		return nil, fmt.Errorf("%s has %d tokens but the model %d", vocabPath, tok.VocabSize(), cfg.Vocab)
	}
	return tok, nil
}

func (f *modelFlags) device() (kernels.Device, error) {
	return openDevice(f.dev, f.threads)
}

// openDevice opens the -device named: the CPU device, or WebGPU on this
// machine's Vulkan GPU. A CPU adapter (lavapipe) is refused for webgpu
// (GPUOnly): it is correct but slower than the CPU device, so asking for
// it is a mistake worth saying.
func openDevice(name string, threads int) (kernels.Device, error) {
	switch name {
	case "", "cpu":
		return cpu.New(threads)
	case "webgpu":
		d, err := webgpu.New(webgpu.Options{GPUOnly: true})
		if err != nil {
			return nil, fmt.Errorf("-device webgpu: %w", err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("-device %q: want cpu or webgpu", name)
}

// engine opens the model and loads it whole on the device.
func (f *modelFlags) engine(batch int) (*openedModel, *model.Engine, kernels.Device, error) {
	kv, err := quant.ParseType(f.kv)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := openModel(f.path, f.vocab)
	if err != nil {
		return nil, nil, nil, err
	}
	dev, err := f.device()
	if err != nil {
		m.src.Close()
		return nil, nil, nil, err
	}
	e, err := model.NewEngine(dev, m.src, m.cfg, model.EngineOptions{Context: f.context, Batch: batch, KV: kv})
	if err != nil {
		m.src.Close()
		dev.Close()
		return nil, nil, nil, err
	}
	return m, e, dev, nil
}
