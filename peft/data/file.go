package data

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// LoadFile reads a user's own dataset and splits it like the built-in tasks.
//
//   - .csv: a header row naming the columns "text" and "label" (any order,
//     other columns ignored).
//   - .jsonl: one object per line, {"text": "...", "label": ...}, the label a
//     string or a number.
//
// Labels are class names unless opts.Regression is set or some label is a
// non-integer number, in which case the task is a regression. Class names
// are sorted (numerically when all are integers) to give label indices.
func LoadFile(path string, opts Options) (*Task, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	var texts, labels []string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		texts, labels, err = readCSV(f)
	case ".jsonl", ".ndjson":
		texts, labels, err = readJSONL(f)
	default:
		return nil, fmt.Errorf("data: %s: unknown file type; use .csv (header text,label) or .jsonl ({\"text\":...,\"label\":...})", path)
	}
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("data: %s has no examples: add one line per example (CSV: a text,label header, then rows; JSONL: {\"text\": ..., \"label\": ...})", path)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	t := &Task{Name: name, Description: "examples from " + path}
	pool := make([]Example, len(texts))

	allNum, allInt := true, true
	values := make([]float64, len(labels))
	for i, l := range labels {
		v, err := strconv.ParseFloat(strings.TrimSpace(l), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			allNum, allInt = false, false
			break
		}
		values[i] = v
		if v != math.Trunc(v) {
			allInt = false
		}
	}
	if opts.Regression && !allNum {
		return nil, fmt.Errorf("data: %s: regression needs numeric labels, but some label is not a number", path)
	}
	if opts.Regression || allNum && !allInt {
		t.Regression = true
		for i := range texts {
			pool[i] = Example{Text: texts[i], Value: values[i]}
		}
	} else {
		set := map[string]bool{}
		for i := range labels {
			labels[i] = strings.TrimSpace(labels[i])
			set[labels[i]] = true
		}
		for l := range set {
			t.Labels = append(t.Labels, l)
		}
		sort.Slice(t.Labels, func(i, j int) bool {
			if allInt {
				a, _ := strconv.ParseFloat(t.Labels[i], 64)
				b, _ := strconv.ParseFloat(t.Labels[j], 64)
				return a < b
			}
			return t.Labels[i] < t.Labels[j]
		})
		index := map[string]int{}
		for i, l := range t.Labels {
			index[l] = i
		}
		for i := range texts {
			pool[i] = Example{Text: texts[i], Label: index[labels[i]]}
		}
	}
	split(t, pool, opts)
	return t, nil
}

func readCSV(r io.Reader) (texts, labels []string, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the header row: %w", err)
	}
	ti, li := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "text":
			ti = i
		case "label":
			li = i
		}
	}
	if ti < 0 || li < 0 {
		return nil, nil, fmt.Errorf("the header row %q must name the columns text and label", strings.Join(header, ","))
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if len(rec) <= max(ti, li) {
			return nil, nil, fmt.Errorf("row %d has %d fields; it needs text and label", line, len(rec))
		}
		texts = append(texts, rec[ti])
		labels = append(labels, rec[li])
	}
	return texts, labels, nil
}

func readJSONL(r io.Reader) (texts, labels []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row struct {
			Text  *string         `json:"text"`
			Label json.RawMessage `json:"label"`
		}
		if err := json.Unmarshal(b, &row); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		if row.Text == nil || len(row.Label) == 0 {
			return nil, nil, fmt.Errorf("line %d: each line needs \"text\" and \"label\"", line)
		}
		var label string
		if err := json.Unmarshal(row.Label, &label); err != nil {
			var num json.Number
			if err := json.Unmarshal(row.Label, &num); err != nil {
				return nil, nil, fmt.Errorf("line %d: label must be a string or a number, not %s", line, row.Label)
			}
			label = num.String()
		}
		texts = append(texts, *row.Text)
		labels = append(labels, label)
	}
	return texts, labels, sc.Err()
}
