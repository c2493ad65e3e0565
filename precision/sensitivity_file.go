package precision

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/tabshard/tabshard/quant"
)

// SensitivityFile is the JSON form of a measurement, with formats by name
// so the file reads (and survives ggml id changes) without this package.
type SensitivityFile struct {
	Model       string            `json:"model"`
	Calibration string            `json:"calibration"` // how it was measured
	Unit        string            `json:"unit"`
	Tensors     []sensitivityJSON `json:"tensors"`
}

type sensitivityJSON struct {
	Name string             `json:"name"`
	Loss map[string]float64 `json:"loss"` // format name → loss
}

// WriteSensitivities writes s as a SensitivityFile.
func WriteSensitivities(w io.Writer, modelName, calibration string, s []quant.Sensitivity) error {
	f := SensitivityFile{Model: modelName, Calibration: calibration, Unit: "mean KL(reference||lowered), nats per position"}
	for _, t := range s {
		j := sensitivityJSON{Name: t.Name, Loss: map[string]float64{}}
		for _, c := range t.Candidates {
			j.Loss[c.Type.String()] = c.Loss
		}
		f.Tensors = append(f.Tensors, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// ReadSensitivities reads a SensitivityFile, checking every format name
// and loss.
func ReadSensitivities(r io.Reader) ([]quant.Sensitivity, error) {
	var f SensitivityFile
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("precision: sensitivity file: %w", err)
	}
	out := make([]quant.Sensitivity, 0, len(f.Tensors))
	for _, t := range f.Tensors {
		if t.Name == "" {
			return nil, fmt.Errorf("precision: sensitivity file: a tensor has no name")
		}
		s := quant.Sensitivity{Name: t.Name}
		for name, loss := range t.Loss {
			typ, err := quant.ParseType(name)
			if err != nil {
				return nil, fmt.Errorf("precision: sensitivity file: tensor %s: %w", t.Name, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) || loss < 0 {
				return nil, fmt.Errorf("precision: sensitivity file: tensor %s format %s has loss %v", t.Name, name, loss)
			}
			s.Candidates = append(s.Candidates, quant.Candidate{Type: typ, Loss: loss})
		}
		// Map order is random; a fixed order keeps the knapsack's ties stable.
		sort.Slice(s.Candidates, func(i, j int) bool { return s.Candidates[i].Type < s.Candidates[j].Type })
		out = append(out, s)
	}
	return out, nil
}
