package precision

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// WriteTable prints rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| configuration | KV | bytes | bits/weight | block bits/weight | cut vs ref | PPL | ± | ΔPPL | greedy agreement |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %.2f | %.1f%% | %.4f | %.4f | %+.2f%% | %.1f%% |\n",
			r.Name, r.KV, groupDigits(r.Bytes), r.BitsPerWeight, r.BlockBits, 100*r.Cut, r.PPL, r.StdErr, 100*r.DeltaPPL, 100*r.Agreement)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes rows as a JSON array.
func WriteJSON(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func groupDigits(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// WriteSVG draws perplexity against megabytes, one labelled point per row.
func WriteSVG(w io.Writer, rows []Row) error {
	if len(rows) == 0 {
		return fmt.Errorf("precision: no rows to draw")
	}
	const W, H, L, R, T, B = 900.0, 560.0, 70.0, 230.0, 30.0, 50.0
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		x := float64(r.Bytes) / 1e6
		minX, maxX = math.Min(minX, x), math.Max(maxX, x)
		minY, maxY = math.Min(minY, r.PPL), math.Max(maxY, r.PPL)
	}
	padX, padY := math.Max((maxX-minX)*0.05, 0.5), math.Max((maxY-minY)*0.05, 0.05)
	minX, maxX, minY, maxY = minX-padX, maxX+padX, minY-padY, maxY+padY
	px := func(x float64) float64 { return L + (x-minX)/(maxX-minX)*(W-L-R) }
	py := func(y float64) float64 { return H - B - (y-minY)/(maxY-minY)*(H-T-B) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", L, H-B, W-R, H-B)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", L, T, L, H-B)
	for i := 0; i <= 5; i++ {
		x := minX + (maxX-minX)*float64(i)/5
		y := minY + (maxY-minY)*float64(i)/5
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.1f</text>`+"\n", px(x), H-B+16, x)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.2f</text>`+"\n", L-6, py(y)+4, y)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">weights, MB (all tensors)</text>`+"\n", (L+W-R)/2, H-10)
	fmt.Fprintf(&b, `<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">perplexity</text>`+"\n", (T+H-B)/2, (T+H-B)/2)
	for _, r := range rows {
		x, y := px(float64(r.Bytes)/1e6), py(r.PPL)
		color := "#1f77b4"
		switch {
		case strings.HasPrefix(r.Name, "adaptive"):
			color = "#d62728"
		case r.KV != "F32":
			color = "#2ca02c"
		}
		label := r.Name
		if r.KV != "F32" {
			label += " kv " + r.KV
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", x, y, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x+6, y-4, html.EscapeString(label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ReadJSON reads rows WriteJSON wrote.
func ReadJSON(r io.Reader) ([]Row, error) {
	var rows []Row
	dec := json.NewDecoder(io.LimitReader(r, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rows); err != nil {
		return nil, fmt.Errorf("precision: analysis rows: %w", err)
	}
	return rows, nil
}

// Merge joins tables made by separate runs over the same text (for
// running groups of rows in parallel): each part starts with the same
// reference row, which is kept once; parts whose reference differs are
// refused.
func Merge(parts [][]Row) ([]Row, error) {
	var out []Row
	for i, p := range parts {
		if len(p) == 0 {
			return nil, fmt.Errorf("precision: merge: part %d is empty", i)
		}
		if i == 0 {
			out = append(out, p...)
			continue
		}
		if p[0] != out[0] {
			return nil, fmt.Errorf("precision: merge: part %d's reference row (%s, PPL %.4f) differs from the first's (%s, PPL %.4f)",
				i, p[0].Name, p[0].PPL, out[0].Name, out[0].PPL)
		}
		out = append(out, p[1:]...)
	}
	return out, nil
}
