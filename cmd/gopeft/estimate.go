package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/train"
)

func init() {
	register("estimate", "estimate before training: memory (default), transfer, logme, calibrate, curve, preflight", runEstimate)
}

func runEstimate(args []string) int {
	if len(args) > 0 {
		if sub, ok := estimateCommands[args[0]]; ok {
			return sub(args[1:])
		}
		if args[0] == "memory" { // the default, named
			args = args[1:]
		}
	}
	fs := newFlags("estimate [memory]", "--model DIR --method NAME [--config FILE.json] --batch-sizes 8,16,32 [--seq-len N] [--json]\n"+
		"       gopeft estimate transfer|logme|calibrate|curve|preflight|measure|sweep|backend -h  (the other estimators)")
	modelDir := fs.String("model", "", "model directory (only its config.json is read)")
	method := fs.String("method", "", "PEFT method: "+knownMethods())
	configFile := fs.String("config", "", "method JSON (MarshalMethod) or setup JSON (MarshalSetup)")
	sizes := fs.String("batch-sizes", "8,16,32", "comma-separated batch sizes")
	seqLen := fs.Int("seq-len", train.DefaultMaxLen, "tokens per example")
	dtypeBytes := fs.Int("dtype-bytes", 4, "bytes per value: 4 (float32) or 2 (bfloat16)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dtypeBytes != 2 && *dtypeBytes != 4 {
		fmt.Fprintf(os.Stderr, "gopeft estimate: --dtype-bytes %d: use 4 (float32) or 2 (bfloat16)\n", *dtypeBytes)
		return 2
	}
	if err := positiveFlags(map[string]float64{"--seq-len": float64(*seqLen)}); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate:", err)
		return 2
	}
	if *modelDir == "" {
		fmt.Fprintln(os.Stderr, "gopeft estimate: --model is required")
		fs.Usage()
		return 2
	}
	cfg, err := hf.ReadConfig(filepath.Join(*modelDir, "config.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate:", err)
		return 1
	}
	s, err := buildSetup(*method, *configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate:", err)
		return 2
	}
	if err := s.Validate(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate:", err)
		return 2
	}
	if limit := cfg.MaxPositions - cfg.PositionOffset; *seqLen > limit {
		*seqLen = limit // the model cannot take longer inputs
	}
	var batches []int
	for _, f := range strings.Split(*sizes, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b <= 0 {
			fmt.Fprintf(os.Stderr, "gopeft estimate: batch size %q is not a positive integer (use e.g. --batch-sizes 8,16,32)\n", f)
			return 2
		}
		batches = append(batches, b)
	}
	type row struct {
		Batch int `json:"batch"`
		estimate.MemoryUse
	}
	var rows []row
	for _, b := range batches {
		rows = append(rows, row{b, estimate.Memory(cfg, s, b, *seqLen, *dtypeBytes)})
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"model": *modelDir, "adapters": s.ActiveNames(), "seq_len": *seqLen, "dtype_bytes": *dtypeBytes, "unit": "bytes", "estimates": rows}); err != nil {
			return 1
		}
		return 0
	}
	mib := func(v int64) string { return fmt.Sprintf("%.1f", float64(v)/(1<<20)) }
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "BATCH\tTOTAL MiB\tWEIGHTS\tGRADS\tOPTIMIZER\tACTIVATIONS\tWORKSPACE\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Batch, mib(r.Total), mib(r.Weights), mib(r.Gradients), mib(r.Optimizer), mib(r.Activations), mib(r.Workspace))
	}
	tw.Flush()
	fmt.Printf("seq len %d, %d bytes per value; activations over %d layers (estimator v1: tensors only, no allocator overhead)\n", *seqLen, *dtypeBytes, rows[0].BackwardLayers)
	return 0
}
